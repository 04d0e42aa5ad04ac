// The README's usage commands, verbatim, as a new user runs them after set-up:
// the commands on PATH (linked by scripts/link-commands.sh, as setup.sh
// does), in a folder with the shipped policies and a my.acg. Commands that
// need a running acgd are checked to name real commands (their --help).
import { execFileSync, spawnSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { REPO } from "./runtime/helpers.js";

const readme = readFileSync(join(REPO, "README.md"), "utf8");
/** Command lines of the README's ```sh blocks, without their trailing comments. */
const commands = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)]
  .flatMap((m) => m[1]!.split("\n"))
  .map((l) => l.replace(/\s+#\s.*$/, "").trim())
  .filter(Boolean);

const work = mkdtempSync(join(tmpdir(), "acg-readme-"));
const bin = join(work, "bin");
execFileSync("bash", [join(REPO, "scripts/link-commands.sh"), bin]);
cpSync(join(REPO, "policies"), join(work, "policies"), { recursive: true });
copyFileSync(join(REPO, "policies/minimal.acg"), join(work, "my.acg"));
mkdirSync(join(work, "out"));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const env = { ...process.env, PATH: `${bin}:${process.env["PATH"]}`, ACG_CACHE_DIR: join(work, "cache") };

const offline = commands.filter((c) => /^(acgc (check|fmt|compile)|cat my\.acg \| acgc check -)/.test(c));
const needDaemon = commands.filter((c) => /^(acgd|acg (run|agent)|acgc (status|apply))\b/.test(c));

describe("README usage, verbatim", () => {
  it("lists the commands this test runs", () => {
    expect(offline.length).toBeGreaterThanOrEqual(8);
    expect(needDaemon.length).toBeGreaterThanOrEqual(6);
  });

  it.each(offline)(
    "%s",
    (cmd) => {
      const r = spawnSync("bash", ["-c", cmd], { cwd: work, env, encoding: "utf8", timeout: 120_000 });
      expect({ cmd, code: r.status, err: r.status === 0 ? "" : r.stderr }).toEqual({ cmd, code: 0, err: "" });
    },
    120_000,
  );

  it.each(needDaemon)("%s (names a real command)", (cmd) => {
    const words = cmd.split(/\s+/);
    const sub = words.slice(1).filter((w, i) => i < 2 && /^[a-z]+$/.test(w) && !w.startsWith("-"));
    const r = spawnSync(words[0]!, [...(words[0] === "acgd" && sub[0] !== "stop" ? [] : sub), "--help"], { env, encoding: "utf8" });
    expect({ cmd, code: r.status }).toEqual({ cmd, code: 0 });
  });
});

describe("a command whose reader stops early", () => {
  it("exits quietly when its output is piped into head, as cat does", () => {
    for (const cmd of ["node bin/acgc.js compile policies/swe-agents.acg --emit c | head -1", "node bin/acg.js traces stats | head -1"]) {
      const r = spawnSync("bash", ["-c", `set -o pipefail; ${cmd}`], { cwd: REPO, encoding: "utf8" });
      expect({ cmd, status: r.status, epipe: /EPIPE|Unhandled/.test(r.stderr) }).toEqual({ cmd, status: 0, epipe: false });
    }
  });
});
