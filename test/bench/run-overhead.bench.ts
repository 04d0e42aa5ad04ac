// What a tool call costs the runtime, on the host's cgroup v2 tree:
// `/bin/true` spawned into a fixed cgroup (baseline) against the whole
// lifecycle — cgroup created with its limits, command spawned into it, usage
// read, cgroup removed — in process (standalone `acg run`) and through acgd's
// socket. Target: < 5 ms per call above the baseline.
//
// Then the whole command as an agent pays for it, process start-up included:
// `acg run --quiet -- /bin/true` through acgd, with the native launcher
// (native/build/acg-run) and with the Node reference (bin/acg.js), against
// /bin/true run bare, each started the same way (spawn). Target for the
// launcher: <= 10 ms per call above the bare command.
//
//   npm run bench:run [-- CALLS]

import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { loadPolicyFrom } from "../../runtime/policy-source.js";
import { assembleRuntime } from "../../runtime/assemble.js";
import { kernelCgroupFs } from "../../runtime/cgroup-fs.js";
import { cgroup2Mount, CgroupTree } from "../../runtime/cgroup-tree.js";
import { DaemonClient } from "../../runtime/client.js";
import { Daemon } from "../../runtime/daemon.js";
import { spawnInCgroup, waitPidfd } from "../../runtime/spawn.js";

const calls = Number(process.argv[2] ?? 200);
const mount = cgroup2Mount();
if (!mount) {
  process.stderr.write("bench:run: no cgroup2 mount\n");
  process.exit(2);
}
const base = join(mount, `acg-bench-${process.pid}`);
const policy = loadPolicyFrom(join(import.meta.dirname ?? ".", "../../../policies/swe-agents.acg"));
if (!policy.ok) throw new Error(policy.message);

async function spawnTrue(cgroup: string): Promise<void> {
  const c = spawnInCgroup({ file: "/bin/true", argv: ["true"], cgroupPath: cgroup, stdio: [null, null, null] });
  await waitPidfd(c.pidfd);
  closeSync(c.pidfd);
}

async function measure(name: string, one: () => Promise<void>, n = calls): Promise<number[]> {
  for (let i = 0; i < Math.min(10, n); i++) await one(); // warm-up
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await one();
    ms.push(performance.now() - t0);
  }
  ms.sort((a, b) => a - b);
  const q = (p: number) => ms[Math.min(ms.length - 1, Math.floor(p * ms.length))]!;
  console.log(`${name.padEnd(34)} P50 ${q(0.5).toFixed(2)} ms  P95 ${q(0.95).toFixed(2)} ms`);
  return ms;
}

const median = (ms: number[]) => ms[Math.floor(ms.length / 2)]!;

/** `acg run -- /bin/true` as a process, native and Node, against /bin/true bare; true if the launcher meets its target. */
async function commandOverhead(socket: string): Promise<boolean> {
  const repo = join(import.meta.dirname ?? ".", "../../..");
  const launcher = join(repo, "native/build/acg-run");
  // Asynchronous spawn: acgd answers from this same process's event loop.
  const env = { ...process.env, ACG_SOCKET: socket };
  const run = (file: string, args: string[]) => async () => {
    const status = await new Promise((resolve, reject) =>
      spawn(file, args, { stdio: "ignore", env }).on("close", resolve).on("error", reject),
    );
    if (status !== 0) throw new Error(`${file} ${args.join(" ")}: exit ${status}`);
  };
  const bare = median(await measure("/bin/true, bare (spawn)", run("/bin/true", [])));
  if (!existsSync(launcher)) {
    console.log(`native launcher not built (bash scripts/build-launcher.sh): ${launcher}`);
    return false;
  }
  const native = median(await measure("acg-run --quiet -- /bin/true", run(launcher, ["--agent", "bench3", "--quiet", "--", "/bin/true"])));
  const nodeCalls = Math.min(calls, 30);
  const node = median(
    await measure(
      `node acg run (${nodeCalls} calls)`,
      run(process.execPath, [join(repo, "bin/acg.js"), "run", "--agent", "bench3", "--quiet", "--", "/bin/true"]),
      nodeCalls,
    ),
  );
  const over = native - bare;
  console.log(
    "per-call overhead of acg run over the bare command (P50): native launcher " +
      `${over.toFixed(2)} ms, Node ${(node - bare).toFixed(2)} ms — target <= 10 ms for the ` +
      `launcher: ${over <= 10 ? "met" : "NOT met"}`,
  );
  return over <= 10;
}
const leaf = join(base, "fixed");
mkdirSync(leaf, { recursive: true });
const rt = assembleRuntime(policy.ir, new CgroupTree(join(base, "tree"), kernelCgroupFs));
const sock = join(mkdtempSync(join(tmpdir(), "acg-bench-")), "acgd.sock");
const daemon = new Daemon(rt.calls, { socketPath: sock, describe: rt.describe });
await daemon.listen();
const client = await DaemonClient.connect(sock);
try {
  console.log(`${calls} calls of /bin/true each, cgroup root ${base}`);
  const baseline = median(await measure("spawn into a fixed cgroup", () => spawnTrue(leaf)));
  const inProcess = median(
    await measure("standalone lifecycle", async () => {
      const call = rt.calls.startCall({ agent: "bench", argv: ["pytest", "-q"] });
      await spawnTrue(call.path);
      await rt.calls.endCall(call.id);
    }),
  );
  const viaDaemon = median(
    await measure("through acgd (start_call/end_call)", async () => {
      const r = (await client.request({ op: "start_call", agent: "bench2", argv: ["pytest", "-q"] })) as { call: string; cgroup: string };
      await spawnTrue(r.cgroup);
      await client.request({ op: "end_call", call: r.call });
    }),
  );
  const worst = Math.max(inProcess, viaDaemon) - baseline;
  console.log(
    `overhead per call (P50 over baseline): standalone ${(inProcess - baseline).toFixed(2)} ms, ` +
      `through acgd ${(viaDaemon - baseline).toFixed(2)} ms — target < 5 ms: ${worst < 5 ? "met" : "NOT met"}`,
  );
  const commandMet = await commandOverhead(sock);
  process.exitCode = worst < 5 && commandMet ? 0 : 1;
} finally {
  client.close();
  await daemon.close();
  rt.close();
  rmdirSync(leaf);
  for (const a of rt.calls.agents.values()) rt.calls.removeIfIdle(a);
  await sleep(100);
  for (const a of rt.calls.agents.values()) rt.calls.removeIfIdle(a);
  for (const t of ["default"]) rmdirSync(join(base, "tree", t));
  rmdirSync(join(base, "tree"));
  rmdirSync(base);
  rmSync(join(sock, ".."), { recursive: true, force: true });
}
