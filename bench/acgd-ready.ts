// How long acgd takes to answer on its socket with a compiled policy: from
// spawn to the first `status` answered ("ready"), and to the first that no
// longer says its BPF objects are loading ("attached": acgd serves while the
// kernel verifies them; an acgd that loaded them before it listened has both
// at once). Each "label=ACGD_JS=COMPILED_DIR" argument is run ROUNDS times,
// alternating, in one machine (one guest boot), with and without the
// scheduler. Prints medians; asserts nothing.
//   node dist/bench/acgd-ready.js [--rounds N] label=path/to/bin/acgd.js=compiled-dir ...

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmdirSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { cgroup2Mount } from "../runtime/cgroup-tree.js";

/**
 * Every round's acgd uses this cgroup root; removed at the end (it is left
 * empty). Under the cgroup v2 mount, which is .../unified on a hybrid host.
 */
const CGROUP_ROOT = join(cgroup2Mount() ?? "/sys/fs/cgroup", `acgd-ready-${process.pid}`);

/** The `status` answered on `socket` (its first line), or null when nothing answers yet. */
function status(socket: string): Promise<{ result?: { enforcement?: Record<string, string> } } | null> {
  return new Promise((resolve) => {
    const c = createConnection(socket);
    let buf = "";
    c.on("error", () => resolve(null));
    c.on("connect", () => c.write(`${JSON.stringify({ op: "status" })}\n`));
    c.on("data", (d) => {
      buf += d.toString();
      if (!buf.includes("\n")) return;
      c.destroy();
      resolve(JSON.parse(buf.slice(0, buf.indexOf("\n"))) as { result?: { enforcement?: Record<string, string> } });
    });
  });
}

async function readyMs(acgd: string, dir: string, extra: string[]): Promise<{ ready: number; attached: number }> {
  const tmp = mkdtempSync(join(tmpdir(), "acgd-ready-"));
  const socket = join(tmp, "acgd.sock");
  const t0 = performance.now();
  const p = spawn(
    process.execPath,
    [acgd, "--policy", dir, "--socket", socket, "--cgroup-root", CGROUP_ROOT, "--state-file", join(tmp, "state.json"), "--quiet", ...extra],
    { stdio: "ignore" },
  );
  try {
    let ready: number | null = null;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`${acgd} exited with ${p.exitCode}`);
      const st = existsSync(socket) ? await status(socket) : null;
      if (st) {
        ready ??= performance.now() - t0;
        if (!st.result?.enforcement || !("bpfObjects" in st.result.enforcement)) return { ready, attached: performance.now() - t0 };
      }
      if (performance.now() - t0 > 120_000) throw new Error(`${acgd}: not ready in 120 s`);
      await sleep(10);
    }
  } finally {
    p.kill("SIGTERM");
    await new Promise((r) => (p.exitCode !== null ? r(null) : p.on("exit", r)));
    rmSync(tmp, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf("--rounds");
  const rounds = at >= 0 ? Number(args.splice(at, 2)[1]) : 3;
  const cases = args.map((a) => {
    const [label, acgd, dir] = a.split("=");
    return { label: label!, acgd: acgd!, dir: dir! };
  });
  for (const mode of [[], ["--no-scheduler"]]) {
    const times = new Map<string, { ready: number; attached: number }[]>(cases.map((c) => [c.label, []]));
    for (let r = 0; r < rounds; r++) for (const c of cases) times.get(c.label)!.push(await readyMs(c.acgd, c.dir, mode));
    for (const c of cases) {
      for (const what of ["ready", "attached"] as const) {
        const t = times.get(c.label)!.map((x) => x[what]);
        console.log(
          `acgd ${what} (${mode.length ? "no scheduler" : "with the scheduler"}) ${c.label}: median ` +
            `${(median(t) / 1000).toFixed(2)} s of ${t.map((x) => (x / 1000).toFixed(2)).join(", ")} s`,
        );
      }
    }
  }
}

void main()
  .catch((e: Error) => {
    console.error(e.message);
    process.exitCode = 1;
  })
  .finally(() => {
    try {
      rmdirSync(CGROUP_ROOT);
    } catch {
      // not created (acgd never started), or not empty: left for a look
    }
  });
