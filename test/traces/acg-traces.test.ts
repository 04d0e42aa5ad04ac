// `acg traces` as a real process: bin/acg.js on the shipped traces, on a
// folder that does not exist and on a folder of malformed runs.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultTraceDir } from "../../traces/read.js";
import { REPO } from "../runtime/helpers.js";

const ACG = join(REPO, "bin/acg.js");
const SHIPPED = defaultTraceDir();
const tmp = mkdtempSync(join(tmpdir(), "acg-traces-"));
const malformed = join(tmp, "malformed");

function acg(args: string[]) {
  const r = spawnSync(process.execPath, [ACG, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
/** A Node stack frame: what a crash would print instead of a message. */
const STACK_FRAME = /^\s+at .+\(.+:\d+:\d+\)$/m;

beforeAll(() => {
  const run = (name: string, files: Record<string, string>) => {
    mkdirSync(join(malformed, name), { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(malformed, name, f), text);
  };
  run("not-json", { "resources.json": "{ samples: [", "tool_calls.json": "[]" });
  run("no-samples", { "resources.json": JSON.stringify({ summary: {} }), "tool_calls.json": "[]" });
  run("one-sample", { "resources.json": JSON.stringify({ samples: [{ epoch: 1, mem_usage: "1MB / 2GB" }] }), "tool_calls.json": "[]" });
  run("calls-not-a-list", {
    "resources.json": JSON.stringify({
      samples: [
        { epoch: 1, mem_usage: "1MB / 2GB" },
        { epoch: 2, mem_usage: "2MB / 2GB" },
      ],
    }),
    "tool_calls.json": JSON.stringify({ calls: [] }),
  });
  run("results-only", { "results.json": "{}" });
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe("acg traces (the real binary)", () => {
  it("characterizes the shipped traces, as text and as JSON", () => {
    const text = acg(["traces", "stats", SHIPPED]);
    expect(text.code).toBe(0);
    expect(text.out).toContain(`Traces: ${SHIPPED}`);
    expect(text.out).toMatch(/^\d+ runs, \d+ tool calls \(\d+ Bash\)/m);
    expect(text.out).toMatch(/^pytest\s+\d+/m);
    expect(text.out).toContain("Against the published figures");
    // The runs with only results.json are skipped and named.
    expect(text.err).toMatch(/^warning: .+: skipped: no resources\.json$/m);

    const json = acg(["traces", "stats", SHIPPED, "--json", "--min-count", "5"]);
    expect(json.code).toBe(0);
    const s = JSON.parse(json.out);
    expect(s.dir).toBe(SHIPPED);
    expect(s.totals.runs).toBeGreaterThan(40);
    expect(s.totals.calls).toBeGreaterThan(1000);
    expect(s.byFamily.find((g: { key: string }) => g.key === "pytest").count).toBeGreaterThan(50);
  });

  it("--min-count leaves rarer command families out of the text", () => {
    const all = acg(["traces", "stats", SHIPPED, "--min-count", "1"]);
    const common = acg(["traces", "stats", SHIPPED, "--min-count", "20"]);
    expect(all.code).toBe(0);
    expect(common.code).toBe(0);
    expect(all.out).not.toContain("rarer ones left out");
    expect(common.out).toMatch(/families with >= 20 calls, \d+ rarer ones left out/);
    expect(common.out.length).toBeLessThan(all.out.length);
  });

  it("a folder that does not exist is a usage error with a clear message", () => {
    const r = acg(["traces", "stats", join(tmp, "nope")]);
    expect(r.code).toBe(2);
    expect(r.out).toBe("");
    expect(r.err).toContain(`acg traces stats: cannot read trace folder ${join(tmp, "nope")}: it does not exist (ENOENT)`);
    expect(r.err).not.toMatch(STACK_FRAME);
  });

  it("a file given as DIR is a usage error too", () => {
    const file = join(tmp, "file.json");
    writeFileSync(file, "{}");
    const r = acg(["traces", "stats", file]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("it is not a folder (ENOTDIR)");
    expect(r.err).not.toMatch(STACK_FRAME);
  });

  it("a folder of malformed runs names each run and why, and exits 1", () => {
    const r = acg(["traces", "stats", malformed]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toMatch(/^warning: not-json: skipped: resources\.json not valid JSON/m);
    expect(r.err).toContain("warning: no-samples: skipped: resources.json: no `samples` list");
    expect(r.err).toContain("warning: one-sample: skipped: resources.json has 1 usable sample(s)");
    expect(r.err).toContain("warning: calls-not-a-list: skipped: tool_calls.json not a list of tool calls");
    expect(r.err).toContain("warning: results-only: skipped: no resources.json");
    expect(r.err).toContain(`acg traces stats: no usable run in ${malformed} (see the warnings above)`);
    expect(r.err).not.toMatch(STACK_FRAME);
  });

  it("unknown subcommands and options exit 2 with the usage; --help lists the subcommands", () => {
    const sub = acg(["traces", "summary"]);
    expect(sub.code).toBe(2);
    expect(sub.err).toContain("acg traces: unknown subcommand 'summary'");
    expect(sub.err).toContain("stats [DIR] [--json] [--min-count N]");
    expect(acg(["traces"]).code).toBe(2);
    const opt = acg(["traces", "stats", "--jsn"]);
    expect(opt.code).toBe(2);
    expect(opt.err).toContain("unknown option '--jsn'");
    expect(acg(["traces", "stats", SHIPPED, "--min-count", "x"]).code).toBe(2);

    const help = acg(["--help"]);
    expect(help.code).toBe(0);
    expect(help.out).toContain("acg traces stats [DIR] [--json] [--min-count N]");
    const tracesHelp = acg(["traces", "--help"]);
    expect(tracesHelp.code).toBe(0);
    expect(tracesHelp.out).toMatch(/^\s+stats \[DIR\]/m);
    const statsHelp = acg(["traces", "stats", "--help"]);
    expect(statsHelp.code).toBe(0);
    expect(statsHelp.out).toContain("--min-count N");
  });
});
