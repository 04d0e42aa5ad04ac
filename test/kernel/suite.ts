// The in-guest kernel suite (run by scripts/test-kernel.sh inside the test-bed
// guest, as root, in ONE boot):
//
//   node dist/test/kernel/suite.js OUT        (OUT = prepare.js's directory)
//
// For every compiled policy in OUT/index.json:
//   shipped + test policies: load scheduler and classifier (verifier rows kept),
//     memcg hooks refused cleanly, attach → sched_ext enabled with the policy's
//     ops name, tasks in tool-call cgroups counted in their class, CPU shares
//     under contention, exec classifier on a `git` exe, detach → disabled;
//     the test policy also checks memory.max (OOM kill) and memory.high
//     (throttling) with its own numbers.
//   random policies: scheduler and classifier load (verifier accepts); then
//     each one's data is hot-swapped into one attached scheduler and a task in
//     a random rule's cgroup must be counted in that rule's class.
// Writes the verifier table to test/kernel/results/verifier.{json,md}.

import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execEventStruct, layoutOf } from "../../compiler/abi.js";
import { starvationBoundNs, starvedTurnNs } from "../../compiler/abi-encode.js";
import type { PolicyIR, RuleIR } from "../../compiler/ir.js";
import { ACG_NONE, KopCode, Tri, globMatch, kleeneEval } from "../../compiler/decide.js";
import { BpfObject } from "../../runtime/bpf-object.js";
import { parseKeyed } from "../../runtime/cgroup-files.js";
import { btfEnumValue, probeKernel } from "../../runtime/kernel-probes.js";
import { isBpfError } from "../../runtime/native-addon.js";
import { RingBuffer } from "../../runtime/ring-buffer.js";
import { sendSignal, spawnInCgroup, waitPidfd } from "../../runtime/spawn.js";
import { PolicyObjects, cgroupIdOf, type VerifierRow } from "../../runtime/policy-objects.js";
import { assert, assertEq, fail, results, summary, test } from "./harness.js";
import { holdTests } from "./hold.js";
import type { IndexEntry, SuiteIndex } from "./prepare.js";

const CG_ROOT = "/sys/fs/cgroup";
const TEST_ROOT = join(CG_ROOT, "acg-kt");
const SCX = "/sys/kernel/sched_ext";
const readTrim = (p: string) => readFileSync(p, "utf8").trim();

/** Tolerances (see docs/kernel-tests.md for why). */
export const TOLERANCE = {
  /**
   * heavy (w300) : light (w100) at one level on one CPU: the CPU ratio must be
   * proportional to the weights within [2/3, 3/2] of it ([2.0, 4.5] for 3:1):
   * TCG's 4 ms ticks stretch 10 ms slices to 12 ms, and a window holds only
   * ~250 slices.
   */
  weightRatioLow: 2 / 3,
  weightRatioHigh: 3 / 2,
  /** high vs low level: the high class gets at least this many times the low class's CPU. */
  highOverLow: 1.5,
  /**
   * ... and the low class at most this multiple of a starved turn's share
   * (turn / (bound + turn)): TCG's 4 ms ticks stretch a 10 ms turn to 12 ms,
   * and kernel threads and the runner take some of the high task's time,
   * during which the low queue is served too (for at least a tick). Measured
   * on an idle host on 2026-12-03: 6.8% to 9.7% against a 4.8% turn share
   * (84 services of ~3 ms in 3 s), so 2× failed one run in five; 2.5× is
   * 11.9%, still far below what an unprioritized low class gets (50%).
   */
  turnShareOver: 2.5,
  /** A class's runtime counter must account for at least this share of its cgroup's cpu.stat usage. */
  attributedShare: 0.8,
  /** Other (non-default) classes may gain at most this share of the task's usage while it runs alone. */
  leakShare: 0.1,
  /** memory.high throttling: extra wall time over the unthrottled control run. */
  throttleExtraMs: 150,
  /** A contention window counts only if the pair got this share of CPU 0's wall time. */
  busyShare: 0.7,
};

// ---------------------------------------------------------------------------
// cgroups and processes

function mkCgroup(path: string): string {
  if (!existsSync(path)) mkdirSync(path);
  return path;
}

function rmCgroup(path: string): void {
  if (!existsSync(path)) return;
  try {
    writeFileSync(join(path, "cgroup.kill"), "1");
  } catch {
    /* empty */
  }
  for (let i = 0; i < 50; i++) {
    try {
      rmdirSync(path);
      return;
    } catch {
      /* tasks still exiting */
    }
    const until = Date.now() + 20;
    while (Date.now() < until) {
      /* spin briefly: this runs in cleanup */
    }
  }
}

function cpuUsageUs(cg: string): number {
  return parseKeyed(readFileSync(join(cg, "cpu.stat"), "utf8"))["usage_usec"] ?? 0;
}

function memEvents(cg: string): Record<string, number> {
  return parseKeyed(readFileSync(join(cg, "memory.events"), "utf8"));
}

interface Proc {
  pid: number;
  pidfd: number;
  done: Promise<{ code: number | null; signal: string | null }>;
}

function start(cg: string, argv: string[], file = argv[0]!): Proc {
  const r = spawnInCgroup({ file, argv, cgroupPath: cg, stdio: [null, null, 2] });
  return { pid: r.pid, pidfd: r.pidfd, done: waitPidfd(r.pidfd).then((s) => ({ code: s.code, signal: s.signal })) };
}

async function stop(p: Proc): Promise<void> {
  try {
    sendSignal(p.pidfd, "SIGKILL");
  } catch {
    /* already gone */
  }
  await p.done;
}

const BUSY = ["/bin/sh", "-c", "while :; do :; done"];
const busyOn = (cpu: number) => ["/usr/bin/taskset", "-c", String(cpu), ...BUSY];

// ---------------------------------------------------------------------------
// sched_ext state

async function waitState(want: string, ms = 3000): Promise<string> {
  const until = Date.now() + ms;
  let s = readTrim(join(SCX, "state"));
  while (s !== want && Date.now() < until) {
    await sleep(20);
    s = readTrim(join(SCX, "state"));
  }
  return s;
}

// ---------------------------------------------------------------------------
// The kernel classifier's expected decision, from the IR (independent model)

function expectedExecRule(ir: PolicyIR, filename: string): number {
  const enc = new TextEncoder();
  const base = filename.slice(filename.lastIndexOf("/") + 1);
  const hit = (index: number) => {
    const p = ir.exePatterns[index]!;
    return globMatch(enc.encode(p.text), enc.encode(p.subject === "exe" ? base : filename), p.kind === "exact", 128, 255);
  };
  for (const r of ir.rules) {
    const ops = r.kernelMatch.map((k) => KopCode[k.op]);
    const hits = r.kernelMatch.map((k) => (k.op === "pattern" ? hit(k.index) : false));
    const v = kleeneEval(ops, hits);
    if (v === Tri.false) continue;
    return v === Tri.true ? r.id : ACG_NONE;
  }
  return ACG_NONE;
}

// ---------------------------------------------------------------------------

interface Loaded {
  po: PolicyObjects;
  ir: PolicyIR;
  entry: IndexEntry;
}

const verifierTable: (VerifierRow & { policy: string; kind: string })[] = [];
/** hold-alloc, hold-watch and wake-exec, built on the host by scripts/test-kernel.sh into OUT/bin. */
let helperBin = "";

function loadPolicy(entry: IndexEntry): Loaded {
  const ir = JSON.parse(readFileSync(join(entry.dir, "ir.json"), "utf8")) as PolicyIR;
  const po = PolicyObjects.open(entry.dir);
  return { po, ir, entry };
}

/** The rule a tool-call cgroup of class `c` is registered with: the first rule of that class, else the default with a class override. */
function ruleForClass(ir: PolicyIR, c: number): { rule: RuleIR; override: boolean } {
  const r = ir.rules.find((x) => x.classId === c);
  if (r) return { rule: r, override: false };
  return { rule: ir.rules[ir.defaultRuleId]!, override: true };
}

async function fullPolicyTests(entry: IndexEntry): Promise<void> {
  const P = entry.name;
  const L = loadPolicy(entry);
  const { po, ir } = L;
  const cgRoot = mkCgroup(join(TEST_ROOT, P));
  writeFileSync(join(cgRoot, "cgroup.subtree_control"), "+cpu +memory");
  const classCg = new Map<number, string>();
  try {
    const okSched = await test(`${P}: scheduler object accepted by the verifier`, () => {
      const rows = po.load("scheduler");
      for (const r of rows) verifierTable.push({ ...r, policy: P, kind: entry.kind });
      assertEq(rows.length, po.entry("scheduler").programs.length, "programs with stats");
      for (const r of rows) assert(r.verifiedInsns > 0, `${r.program}: verified_insns = ${r.verifiedInsns}`);
      return rows.map((r) => `${r.program}=${r.verifiedInsns}`).join(" ");
    });
    await test(`${P}: classifier object accepted by the verifier (maps shared with the scheduler)`, () => {
      const rows = po.load("classifier");
      for (const r of rows) verifierTable.push({ ...r, policy: P, kind: entry.kind });
      assert(
        rows.every((r) => r.verifiedInsns > 0),
        "verified_insns > 0",
      );
      // One kernel map: the classifier's acg_policy is the scheduler's.
      if (okSched !== undefined) {
        assertEq(
          po.object("classifier").map("acg_policy").info().id,
          po.object("scheduler").map("acg_policy").info().id,
          "acg_policy map id shared",
        );
      }
      return rows.map((r) => `${r.program}=${r.verifiedInsns}`).join(" ");
    });
    await test(`${P}: memcg hooks refused cleanly (kernel lacks memcg_bpf_ops)`, () => {
      assertEq(probeKernel().memcgBpfOps, false, "probe: memcg_bpf_ops in BTF");
      let err: unknown;
      try {
        po.load("memcg");
      } catch (e) {
        err = e;
      }
      assert(isBpfError(err), `PolicyObjects.load("memcg") must throw a BpfError, got ${String(err)}`);
      assertEq(err.code, "EOPNOTSUPP", "code");
      assert(/kernel lacks memcg_bpf_ops/.test(err.message), `message: ${err.message}`);
      // And libbpf itself, asked anyway, fails with a JS error (no crash).
      let raw: unknown;
      const obj = BpfObject.open(join(entry.dir, po.entry("memcg").file));
      try {
        obj.load();
      } catch (e) {
        raw = e;
      } finally {
        if (!obj.closed) obj.close();
      }
      assert(isBpfError(raw), `raw load must throw a BpfError, got ${String(raw)}`);
      assert(raw.errno > 0 && raw.op.length > 0 && raw.message.length > 0, "errno/op/message set");
      return `probe: ${err.message.slice(0, 60)}...; raw load: op ${raw.op}, ${raw.code}: ${raw.message.slice(0, 90)}`;
    });
    if (okSched === undefined) return;

    await test(`${P}: policy generation written`, () => {
      const gen = po.writePolicy(ir);
      assertEq(gen, 1, "first generation written");
      const v = po.map("acg_policy").lookup(Buffer.from([1, 0, 0, 0]));
      assert(v && v.readUInt32LE(32) === ir.classes.length, "nr_classes read back");
    });

    // One tool-call cgroup per class, registered before attach.
    for (const c of ir.classes) {
      const cg = mkCgroup(join(cgRoot, `class-${c.name}`));
      classCg.set(c.id, cg);
      const { rule, override } = ruleForClass(ir, c.id);
      po.setCgroup(cgroupIdOf(cg), { ruleId: rule.id, agentId: 0, ...(override ? { classId: c.id } : {}) });
    }

    const attached = await test(`${P}: attach → sched_ext enabled with ops ${po.manifest.policy.opsName}`, async () => {
      po.attachScheduler();
      const state = await waitState("enabled");
      assertEq(state, "enabled", "state");
      assertEq(readTrim(join(SCX, "root/ops")), po.manifest.policy.opsName, "root/ops");
      return `state ${state}, ops ${po.manifest.policy.opsName}`;
    });
    if (attached === undefined) return;

    const defaultClass = ir.rules[ir.defaultRuleId]!.classId;
    for (const c of ir.classes) {
      await test(`${P}: task in a class-${c.name} tool call is counted in class ${c.id}`, async () => {
        const cg = classCg.get(c.id)!;
        // The runner is real-time: CPU it burns itself (a garbage collection after a
        // large object load) is CPU the task cannot have. Such a window measures the
        // runner, not the policy, and is repeated (up to 3 tries).
        let window = {
          before: po.classStats(ir.classes.length),
          after: po.classStats(ir.classes.length),
          usageNs: 0,
          runnerMs: 0,
          wallMs: 0,
        };
        for (let tries = 1; tries <= 3; tries++) {
          const before = po.classStats(ir.classes.length);
          const u0 = cpuUsageUs(cg);
          const r0 = process.cpuUsage();
          const t0 = performance.now();
          const p = start(cg, BUSY);
          await sleep(400);
          const pol = Number(readFileSync(`/proc/${p.pid}/stat`, "utf8").split(") ")[1]!.split(" ")[38]);
          await stop(p);
          assert(pol !== 1 && pol !== 2, `the task is SCHED_OTHER/SCHED_EXT, not real-time (policy ${pol})`);
          const r = process.cpuUsage(r0);
          window = {
            before,
            after: po.classStats(ir.classes.length),
            usageNs: (cpuUsageUs(cg) - u0) * 1000,
            runnerMs: (r.user + r.system) / 1000,
            wallMs: performance.now() - t0,
          };
          if (window.usageNs > 20e6 || window.runnerMs < window.wallMs / 2) break;
          console.log(
            `  (try ${tries}: the runner took ${window.runnerMs.toFixed(0)} of ${window.wallMs.toFixed(0)} ms of CPU itself, repeating)`,
          );
        }
        const { before, after, usageNs } = window;
        const d = after.map((a, i) => ({ enq: a.enqueued - before[i]!.enqueued, run: Number(a.runtimeNs - before[i]!.runtimeNs) }));
        assert(
          usageNs > 20e6,
          `the task ran: cgroup usage ${usageNs / 1e6} ms (the runner took ` +
            `${window.runnerMs.toFixed(0)} of ${window.wallMs.toFixed(0)} ms)`,
        );
        assert(d[c.id]!.enq > 0n, `class ${c.id} enqueued +${d[c.id]!.enq}`);
        assert(
          d[c.id]!.run >= TOLERANCE.attributedShare * usageNs,
          `class ${c.id} runtime +${(d[c.id]!.run / 1e6).toFixed(1)} ms < ` +
            `${TOLERANCE.attributedShare} × cgroup usage ${(usageNs / 1e6).toFixed(1)} ms`,
        );
        for (const o of ir.classes) {
          if (o.id === c.id || o.id === defaultClass) continue;
          assert(
            d[o.id]!.run <= TOLERANCE.leakShare * usageNs,
            `class ${o.id} (not the task's) gained ${(d[o.id]!.run / 1e6).toFixed(1)} ms`,
          );
        }
        return `cgroup ${(usageNs / 1e6).toFixed(0)} ms; class ${c.id} +${(d[c.id]!.run / 1e6).toFixed(0)} ms, +${d[c.id]!.enq} enq`;
      });
    }

    // Contention on one CPU: two busy tasks pinned to CPU 0.
    // The two tasks together must have had most of CPU 0 (TOLERANCE.busyShare of the
    // window): under TCG a loaded host can stall the guest's vCPUs while wall time (and
    // with it the scheduler's starvation clock) runs on. Such a window measures the
    // host, not the policy, and is repeated (up to 3 tries).
    const contend = async (a: number, b: number, ms: number) => {
      const ca = classCg.get(a)!;
      const cb = classCg.get(b)!;
      let last = { da: 0, db: 0, tries: 0, servedB: 0, wallMs: 0 };
      for (let tries = 1; tries <= 3; tries++) {
        const pa = start(ca, busyOn(0));
        const pb = start(cb, busyOn(0));
        await sleep(100); // both started and pinned
        const ua = cpuUsageUs(ca);
        const ub = cpuUsageUs(cb);
        const s0 = po.classStats(ir.classes.length);
        const t0 = performance.now();
        await sleep(ms);
        const da = cpuUsageUs(ca) - ua;
        const db = cpuUsageUs(cb) - ub;
        const s1 = po.classStats(ir.classes.length);
        const wallUs = (performance.now() - t0) * 1000;
        await Promise.all([stop(pa), stop(pb)]);
        const servedB = Number(s1[b]!.dispatched - s0[b]!.dispatched);
        last = { da, db, tries, servedB, wallMs: wallUs / 1000 };
        if (da + db >= TOLERANCE.busyShare * wallUs) return last;
        console.log(
          `  (try ${tries}: the pair got ${((100 * (da + db)) / wallUs).toFixed(0)}% of CPU 0: guest starved by the host, repeating)`,
        );
      }
      throw new Error(`guest CPU starved by the host in 3 tries (last: ${((last.da + last.db) / 1000).toFixed(0)} ms of ${ms} ms)`);
    };

    if (entry.kind === "test") {
      const heavy = ir.classes.find((c) => c.name === "heavy")!;
      const light = ir.classes.find((c) => c.name === "light")!;
      const want = heavy.cpuWeight / light.cpuWeight;
      const [lo, hi] = [want * TOLERANCE.weightRatioLow, want * TOLERANCE.weightRatioHigh];
      await test(`${P}: same level, weight ${heavy.cpuWeight} vs ${light.cpuWeight} on one CPU → CPU ratio within [${lo.toFixed(1)}, ${hi.toFixed(1)}] (proportional: ${want})`, async () => {
        const { da, db } = await contend(heavy.id, light.id, 3000);
        assert(db > 0, "light got no CPU at all");
        const ratio = da / db;
        const detail =
          `heavy ${(da / 1000).toFixed(0)} ms, light ${(db / 1000).toFixed(0)} ms, ` + `ratio ${ratio.toFixed(2)} (proportional: ${want})`;
        assert(ratio >= lo && ratio <= hi, `the share is not proportional to the weights: ${detail}`);
        return detail;
      });
    }
    const byPrio = [...ir.classes].sort((x, y) => x.priority - y.priority);
    const hi = byPrio[0]!;
    const lo = byPrio[byPrio.length - 1]!;
    if (hi.priority !== lo.priority) {
      // The design's guarantee (docs/language.md, class priority): a lower level that has
      // waited past the starvation bound runs first, for at most the starved turn. So the
      // low queue is served about once per bound + turn; we require half of that, a nonzero
      // CPU share, and at most the turn's share with TOLERANCE.turnShareOver of room.
      const boundMs = Number(starvationBoundNs(ir)) / 1e6;
      const turnMs = Number(starvedTurnNs(ir)) / 1e6;
      const maxShare = TOLERANCE.turnShareOver * (turnMs / (boundMs + turnMs));
      await test(`${P}: high-level ${hi.name} vs low-level ${lo.name} on one CPU → high ≥ ${TOLERANCE.highOverLow}× low; low served at least every ~2 × starvation bound (${boundMs} ms), share in (0, ${(100 * maxShare).toFixed(1)}%]`, async () => {
        const r = await contend(hi.id, lo.id, 3000);
        const { da, db } = r;
        const share = db / (da + db);
        const minServed = Math.floor(r.wallMs / (boundMs + turnMs) / 2);
        const detail =
          `high ${(da / 1000).toFixed(0)} ms, low ${(db / 1000).toFixed(1)} ms (share ${(share * 100).toFixed(2)}%), ` +
          `low queue served ${r.servedB}× in ${r.wallMs.toFixed(0)} ms (≥ ${minServed} required)`;
        assert(da >= TOLERANCE.highOverLow * db, `high not ahead: ${detail}`);
        assert(db > 0, `low task starved: ${detail}`);
        assert(share <= maxShare, `low ran past its starved turns (${turnMs} ms per ${boundMs} ms bound): ${detail}`);
        assert(r.servedB >= minServed, `low queue served too rarely: ${detail}`);
        return detail;
      });
    }

    await test(`${P}: scheduler still enabled after the workload (not ejected)`, () => {
      assertEq(readTrim(join(SCX, "state")), "enabled", "state");
      const ex = po.exitInfo();
      assertEq(ex?.kind, 0, `exit kind (reason "${ex?.reason}", msg "${ex?.msg}")`);
    });

    if (entry.kind === "test") {
      await memoryTests(ir, cgRoot);
      await holdTests(po, ir, cgRoot, helperBin);
      await test(`${P}: scheduler still enabled after the memory holds (not ejected)`, () => {
        assertEq(readTrim(join(SCX, "state")), "enabled", "state");
        const ex = po.exitInfo();
        assertEq(ex?.kind, 0, `exit kind (reason "${ex?.reason}", msg "${ex?.msg}")`);
      });
    }

    await test(`${P}: detach → sched_ext disabled, exit recorded as unregistration`, async () => {
      po.detachScheduler();
      const state = await waitState("disabled");
      assertEq(state, "disabled", "state");
      const ex = po.exitInfo();
      const unreg = btfEnumValue("scx_exit_kind", "SCX_EXIT_UNREG");
      assert(ex !== null && unreg !== null, "exit record and SCX_EXIT_UNREG known");
      assertEq(ex.kind, unreg, `exit kind (reason "${ex.reason}")`);
      return `exit kind ${ex.kind} "${ex.reason}"`;
    });

    await classifierTest(L, cgRoot);
  } finally {
    po.close();
    for (const cg of classCg.values()) rmCgroup(cg);
    rmCgroup(cgRoot);
  }
}

/** CPU time a process has run, ns (/proc/PID/schedstat's first field). */
function runtimeNsOf(pid: number): number {
  return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);
}

/** What each class was charged between two classStats() reads, ns. */
function chargedNs(before: { runtimeNs: bigint }[], after: { runtimeNs: bigint }[], classId: number): number {
  return Number(after[classId]!.runtimeNs - before[classId]!.runtimeNs);
}

/**
 * select_cpu() remembers the class it placed a task in until the placement
 * epochs move (docs/bpf.md): a class acgd changes, and an exec the classifier
 * classifies, must still reach a task that keeps waking up on an idle CPU
 * (wake-exec: 200 us of work, 300 us of sleep, over and over). Each test
 * first shows the old class charged, then the new one.
 */
async function placementTests(L: Loaded, cgRoot: string): Promise<void> {
  const { po, ir, entry } = L;
  const P = entry.name;
  const n = ir.classes.length;
  const cls = (name: string) => ir.classes.find((c) => c.name === name)!;
  const wakeExec = join(helperBin, "wake-exec");
  const ms = (ns: number) => (ns / 1e6).toFixed(0);
  /** Over `forMs`: how much `cpuNs()` grew (the task must have run 20 ms of it) and what each class was charged. */
  const measure = async (forMs: number, cpuNs: () => number) => {
    const [s0, c0] = [po.classStats(n), cpuNs()];
    await sleep(forMs);
    const [s1, c1] = [po.classStats(n), cpuNs()];
    assert(c1 - c0 > 20e6, `the task ran: ${((c1 - c0) / 1e6).toFixed(1)} ms of CPU in ${forMs} ms`);
    return { cpuNs: c1 - c0, charged: (classId: number) => chargedNs(s0, s1, classId) };
  };

  await test(`${P}: a task waking in a tool call is charged to the class acgd gives the call next (runtime epoch)`, async () => {
    const [heavy, light] = [cls("heavy"), cls("light")];
    const cg = mkCgroup(join(cgRoot, "reclass"));
    const register = (classId: number) => {
      const { rule, override } = ruleForClass(ir, classId);
      po.setCgroup(cgroupIdOf(cg), { ruleId: rule.id, agentId: 0, ...(override ? { classId } : {}) });
    };
    register(heavy.id);
    const p = start(cg, [wakeExec, "5000"]);
    try {
      const usageNs = () => cpuUsageUs(cg) * 1000;
      await sleep(200);
      const before = await measure(500, usageNs);
      assert(
        before.charged(heavy.id) >= TOLERANCE.attributedShare * before.cpuNs,
        `before the change, heavy was charged ${ms(before.charged(heavy.id))} of ${ms(before.cpuNs)} ms`,
      );
      register(light.id);
      await sleep(50);
      const after = await measure(500, usageNs);
      const detail =
        `before: heavy ${ms(before.charged(heavy.id))} of ${ms(before.cpuNs)} ms; ` +
        `after: light ${ms(after.charged(light.id))}, heavy ${ms(after.charged(heavy.id))} of ${ms(after.cpuNs)} ms`;
      assert(after.charged(light.id) >= TOLERANCE.attributedShare * after.cpuNs, `light not charged after the change: ${detail}`);
      assert(after.charged(heavy.id) <= TOLERANCE.leakShare * after.cpuNs, `heavy still charged after the change: ${detail}`);
      return detail;
    } finally {
      await stop(p);
      po.clearCgroup(cgroupIdOf(cg));
      rmCgroup(cg);
    }
  });

  await test(`${P}: a task waking on, through an exec of 'git', is charged to the vcs rule's class (exec epoch)`, async () => {
    const urgent = ir.classes[ir.rules.find((r) => r.name === "vcs")!.classId]!;
    const dir = mkdtempSync("/tmp/acg-kt-");
    const git = join(dir, "git");
    copyFileSync(wakeExec, git);
    chmodSync(git, 0o755);
    // Not a tool call: the exec's rule decides the class (the default's, idle, before it).
    const cg = mkCgroup(join(cgRoot, "reexec"));
    po.attachClassifier();
    const p = start(cg, [wakeExec, "700", git, "5000"]);
    try {
      const taskNs = () => runtimeNsOf(p.pid);
      await sleep(100);
      const before = await measure(400, taskNs);
      for (let i = 0; i < 100 && readTrim(`/proc/${p.pid}/comm`) !== "git"; i++) await sleep(20);
      assertEq(readTrim(`/proc/${p.pid}/comm`), "git", "the task exec'd git");
      await sleep(50);
      const after = await measure(500, taskNs);
      const detail =
        `before the exec: ${urgent.name} ${ms(before.charged(urgent.id))} of ${ms(before.cpuNs)} ms; ` +
        `after: ${ms(after.charged(urgent.id))} of ${ms(after.cpuNs)} ms`;
      assert(before.charged(urgent.id) <= TOLERANCE.leakShare * before.cpuNs, `${urgent.name} charged before the exec: ${detail}`);
      assert(after.charged(urgent.id) >= TOLERANCE.attributedShare * after.cpuNs, `${urgent.name} not charged after the exec: ${detail}`);
      return detail;
    } finally {
      await stop(p);
      po.detachClassifier();
      rmCgroup(cg);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

async function classifierTest(L: Loaded, cgRoot: string): Promise<void> {
  const { po, ir, entry } = L;
  const P = entry.name;
  await test(`${P}: exec classifier attaches (tp_btf/sched_process_exec) and classifies a 'git' exe`, async () => {
    const dir = mkdtempSync("/tmp/acg-kt-");
    const git = join(dir, "git");
    copyFileSync("/bin/true", git);
    chmodSync(git, 0o755);
    const cg = mkCgroup(join(cgRoot, "exec"));
    const layout = layoutOf(execEventStruct);
    const off = (f: string) => layout.fields.find((x) => x.name === f)!;
    const events: Buffer[] = [];
    const rb = new RingBuffer(po.map("acg_events"), (rec) => events.push(rec));
    try {
      po.attachClassifier();
      const p = start(cg, ["git", "status"], git);
      const st = await p.done;
      assertEq(st.code, 0, "the git copy ran");
      for (let i = 0; i < 20 && !events.some((e) => e.readUInt32LE(off("tgid").offset) === p.pid); i++) {
        rb.consume();
        await sleep(25);
      }
      const ev = events.find((e) => e.readUInt32LE(off("tgid").offset) === p.pid);
      assert(ev, `no exec event for pid ${p.pid} (${events.length} events)`);
      const fn = ev.subarray(off("filename").offset, off("filename").offset + off("filename").size);
      const filename = fn.subarray(0, fn.indexOf(0)).toString();
      assertEq(filename, git, "event filename");
      assertEq(ev.readBigUInt64LE(off("cgroup_id").offset), cgroupIdOf(cg), "event cgroup id");
      const want = expectedExecRule(ir, git);
      const got = ev.readUInt32LE(off("rule_id").offset);
      assertEq(got, want, "rule_id");
      if (entry.kind === "test") {
        const vcs = ir.rules.find((r) => r.name === "vcs")!;
        assertEq(got, vcs.id, "kt policy: git is the vcs rule");
      }
      const ec = po.map("acg_exec").lookup(Buffer.from(new Uint32Array([p.pid]).buffer));
      if (want !== ACG_NONE && want !== ir.defaultRuleId) {
        assert(ec && ec.readUInt32LE(0) === want, `acg_exec entry for ${p.pid}: ${ec ? ec.readUInt32LE(0) : "none"}`);
      } else {
        assert(ec === null, "no acg_exec entry for an undecided or default exec");
      }
      const name = want === ACG_NONE ? "undecided (user space)" : `rule ${want} (${ir.rules[want]!.name})`;
      return `${events.length} events; ${filename} → ${name}`;
    } finally {
      po.detachClassifier();
      rb.close();
      rmCgroup(cg);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

async function memoryTests(ir: PolicyIR, cgRoot: string): Promise<void> {
  const MiB = 1024 * 1024;
  const rule = (name: string) => ir.rules.find((r) => r.name === name)!;
  // The runtime's fallback writes these from the IR; here they are written directly,
  // which checks the kernel's side of the contract (memory.max kills, memory.high throttles).
  const apply = (cg: string, r: RuleIR) => {
    if (r.memory.limitBytes !== null) writeFileSync(join(cg, "memory.max"), String(r.memory.limitBytes));
    if (r.memory.baselineBytes !== null) writeFileSync(join(cg, "memory.high"), String(r.memory.baselineBytes));
    writeFileSync(join(cg, "memory.swap.max"), "0");
  };
  const dd = (bytes: number) => ["/usr/bin/dd", "if=/dev/zero", "of=/dev/null", `bs=${bytes}`, "count=1", "status=none"];

  await test(`${ir.name}: memory.max from rule 'capped' → allocating 2× the limit is OOM-killed`, async () => {
    const r = rule("capped");
    const limit = r.memory.limitBytes!;
    const cg = mkCgroup(join(cgRoot, "capped"));
    try {
      apply(cg, r);
      assertEq(Number(readTrim(join(cg, "memory.max"))), limit, "memory.max");
      const t0 = performance.now();
      const st = await start(cg, dd(2 * limit)).done;
      const ms = performance.now() - t0;
      const ev = memEvents(cg);
      assertEq(st.signal, "SIGKILL", `dd of ${(2 * limit) / MiB} MiB: exit ${st.code}`);
      assert((ev.oom_kill ?? 0) >= 1, `memory.events oom_kill = ${ev.oom_kill}`);
      assert((ev.max ?? 0) >= 1, `memory.events max = ${ev.max}`);
      const killed = `SIGKILL in ${ms.toFixed(0)} ms; oom_kill ${ev.oom_kill}, max ${ev.max}`;
      return `limit ${limit / MiB} MiB, dd ${(2 * limit) / MiB} MiB → ${killed}`;
    } finally {
      rmCgroup(cg);
    }
  });

  await test(`${ir.name}: memory.high from rule 'squeezed' → allocating past it raises 'high' events and is throttled, not killed`, async () => {
    const r = rule("squeezed");
    const high = r.memory.baselineBytes!;
    const size = high + 2 * MiB;
    const ctl = mkCgroup(join(cgRoot, "control"));
    const cg = mkCgroup(join(cgRoot, "squeezed"));
    try {
      let t0 = performance.now();
      const c = await start(ctl, dd(size)).done;
      const controlMs = performance.now() - t0;
      assertEq(c.code, 0, "control dd");
      apply(cg, r);
      assertEq(Number(readTrim(join(cg, "memory.high"))), high, "memory.high");
      t0 = performance.now();
      const st = await start(cg, dd(size)).done;
      const ms = performance.now() - t0;
      const ev = memEvents(cg);
      assertEq(st.code, 0, `dd exit (signal ${st.signal})`);
      assert((ev.high ?? 0) >= 1, `memory.events high = ${ev.high}`);
      assertEq(ev.oom_kill ?? 0, 0, "oom_kill");
      assert(ms - controlMs >= TOLERANCE.throttleExtraMs, `throttled run ${ms.toFixed(0)} ms vs control ${controlMs.toFixed(0)} ms`);
      const times = `${ms.toFixed(0)} ms vs ${controlMs.toFixed(0)} ms unthrottled`;
      return `high ${high / MiB} MiB, dd ${size / MiB} MiB: ${times}; high events ${ev.high}`;
    } finally {
      rmCgroup(cg);
      rmCgroup(ctl);
    }
  });
}

async function randomPolicyLoad(entry: IndexEntry): Promise<VerifierRow[] | undefined> {
  return test(`random ${entry.name}: scheduler and classifier accepted by the verifier`, () => {
    const po = PolicyObjects.open(entry.dir);
    try {
      const rows = [...po.load("scheduler"), ...po.load("classifier")];
      assert(
        rows.every((r) => r.verifiedInsns > 0),
        "verified_insns > 0",
      );
      return rows;
    } catch (e) {
      (e as Error).message += `\n    policy: ${join(entry.dir, "policy.acg")}`;
      throw e;
    } finally {
      po.close();
    }
  });
}

/**
 * Every random policy's data, hot-swapped into ONE attached scheduler (the
 * generation protocol), each exercised by a task in a tool-call cgroup of a
 * random rule: the scheduler must stay enabled and count the task in that
 * rule's class. One attach for all: each sched_ext enable/disable patches
 * kernel text, and under multi-threaded TCG that rarely oopses (see
 * docs/kernel-tests.md), so the suite keeps attach cycles few.
 */
async function randomHotSwap(entries: IndexEntry[], seed: number): Promise<void> {
  if (entries.length === 0) return;
  const first = entries[0]!;
  const po = PolicyObjects.open(first.dir);
  const cgRoot = mkCgroup(join(TEST_ROOT, "random"));
  writeFileSync(join(cgRoot, "cgroup.subtree_control"), "+cpu +memory");
  let rnd = seed >>> 0;
  const next = () => (rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0);
  try {
    const ok = await test(`random: one scheduler (${first.name}) attached for the hot-swap checks`, async () => {
      po.load("scheduler");
      po.writePolicy(JSON.parse(readFileSync(join(first.dir, "ir.json"), "utf8")) as PolicyIR);
      po.attachScheduler();
      assertEq(await waitState("enabled"), "enabled", "state");
      return `ops ${po.manifest.policy.opsName}`;
    });
    if (ok === undefined) return;
    for (const [i, e] of entries.entries()) {
      if (readTrim(join(SCX, "state")) !== "enabled") {
        // Ejected (e.g. the watchdog's "runnable task stall"): the rest cannot run on this scheduler.
        fail(
          `random: hot-swap checks ${entries
            .slice(i)
            .map((x) => x.name)
            .join(", ")}`,
          `not run: the scheduler was ejected (${JSON.stringify(po.exitInfo(), (_k, v) => (typeof v === "bigint" ? String(v) : v))})`,
        );
        break;
      }
      await test(`random ${e.name}: data hot-swapped in, task counted in its rule's class`, async () => {
        const ir = JSON.parse(readFileSync(join(e.dir, "ir.json"), "utf8")) as PolicyIR;
        const rule = ir.rules[next() % ir.rules.length]!;
        const gen = po.writePolicy(ir);
        const cg = mkCgroup(join(cgRoot, e.name));
        const id = cgroupIdOf(cg);
        try {
          po.setCgroup(id, { ruleId: rule.id, agentId: 0 });
          const before = po.classStats(ir.classes.length);
          const u0 = cpuUsageUs(cg);
          const p = start(cg, BUSY);
          // Starting a process under TCG takes a good part of 200 ms: give it room.
          await sleep(600);
          await stop(p);
          const usageNs = (cpuUsageUs(cg) - u0) * 1000;
          const after = po.classStats(ir.classes.length);
          const run = Number(after[rule.classId]!.runtimeNs - before[rule.classId]!.runtimeNs);
          assertEq(
            readTrim(join(SCX, "state")),
            "enabled",
            `state (exit: ${JSON.stringify(po.exitInfo(), (_k, v) => (typeof v === "bigint" ? String(v) : v))})`,
          );
          assert(usageNs > 10e6, `the task ran: ${usageNs / 1e6} ms`);
          assert(
            run >= TOLERANCE.attributedShare * usageNs,
            `class ${rule.classId} runtime +${(run / 1e6).toFixed(1)} ms < ` +
              `${TOLERANCE.attributedShare} × usage ${(usageNs / 1e6).toFixed(1)} ms`,
          );
          const share = `+${(run / 1e6).toFixed(0)} ms of ${(usageNs / 1e6).toFixed(0)} ms`;
          return `gen ${gen}, rule ${rule.name} → class ${rule.classId}: ${share}`;
        } finally {
          po.clearCgroup(id);
          rmCgroup(cg);
        }
      });
    }
    await test("random: scheduler still enabled after the hot swaps, detach → disabled", async () => {
      const ex = po.exitInfo();
      assertEq(ex?.kind, 0, `exit kind (reason "${ex?.reason}", msg "${ex?.msg}")`);
      po.detachScheduler();
      assertEq(await waitState("disabled"), "disabled", "state");
    });
  } finally {
    po.close();
    rmCgroup(cgRoot);
  }
}

function printVerifierTable(rows: typeof verifierTable): string {
  const head = ["Policy", "Object", "Program", "Insns (verified)", "Verif time (us)", "States", "Peak states"];
  const body = rows.map((r) => [
    r.policy,
    r.object,
    r.program,
    String(r.verifiedInsns),
    r.verificationTimeUs === null ? "-" : String(r.verificationTimeUs),
    r.totalStates === null ? "-" : String(r.totalStates),
    r.peakStates === null ? "-" : String(r.peakStates),
  ]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i >= 3 ? c.padStart(w[i]!) : c.padEnd(w[i]!))).join("  ");
  return [fmt(head), w.map((n) => "-".repeat(n)).join("  "), ...body.map(fmt)].join("\n");
}

/**
 * `suite.js OUT --placement`: the placement tests alone, in a boot of their
 * own with 2 vCPUs (scripts/test-kernel.sh). The kernel asks select_cpu()
 * only about tasks that may run on more than one CPU, and the main boot has
 * one (docs/kernel-tests.md, "Why one vCPU").
 */
async function placementBoot(index: SuiteIndex): Promise<void> {
  const entry = index.entries.find((e) => e.kind === "test" && e.ok);
  if (!entry) {
    fail("placement: the suite's test policy compiles", "not compiled");
    return;
  }
  const L = loadPolicy(entry);
  const { po, ir } = L;
  const cgRoot = mkCgroup(TEST_ROOT);
  writeFileSync(join(cgRoot, "cgroup.subtree_control"), "+cpu +memory");
  try {
    const ready = await test(`placement: ${entry.name} loaded and attached on ${cpuCount()} CPUs`, async () => {
      assert(cpuCount() > 1, `the guest has ${cpuCount()} CPU(s): select_cpu() needs tasks that may run on more than one`);
      po.load("scheduler");
      po.load("classifier");
      po.writePolicy(ir);
      po.attachScheduler();
      assertEq(await waitState("enabled"), "enabled", "sched_ext state");
      return `${po.manifest.policy.opsName} enabled`;
    });
    if (ready === undefined) return;
    await placementTests(L, cgRoot);
    await test("placement: scheduler still enabled (not ejected)", () => {
      assertEq(readTrim(join(SCX, "state")), "enabled", "state");
      const ex = po.exitInfo();
      assertEq(ex?.kind, 0, `exit kind (reason "${ex?.reason}", msg "${ex?.msg}")`);
    });
  } finally {
    po.close();
    rmCgroup(cgRoot);
  }
}

function cpuCount(): number {
  return readTrim("/sys/devices/system/cpu/online")
    .split(",")
    .reduce((n, r) => {
      const [a, b] = r.split("-").map(Number);
      return n + (b === undefined ? 1 : b - a! + 1);
    }, 0);
}

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? ".cache/kernel-tests");
  helperBin = join(out, "bin");
  const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8")) as SuiteIndex;
  if (process.argv.includes("--placement")) {
    console.log(`kernel suite, placement boot: ${readTrim("/proc/sys/kernel/osrelease")}`);
    await placementBoot(index);
    process.exitCode = summary() || (results().some((o) => !o.ok) ? 1 : 0);
    return;
  }
  const t0 = performance.now();
  console.log(`kernel suite: ${readTrim("/proc/sys/kernel/osrelease")}, ${index.entries.length} policies (random seed ${index.seed})`);

  await test("guest: sched_ext present and idle, cgroup v2 with cpu and memory", () => {
    assertEq(readTrim(join(SCX, "state")), "disabled", "sched_ext state before any test");
    const ctl = readTrim(join(CG_ROOT, "cgroup.subtree_control")).split(" ");
    assert(ctl.includes("cpu") && ctl.includes("memory"), `root subtree_control: ${ctl.join(" ")}`);
    // The runner is SCHED_FIFO with SCHED_RESET_ON_FORK (scripts/test-kernel.sh): outside the
    // policy under test; its children must be plain SCHED_OTHER tasks, i.e. under sched_ext.
    const policyOf = (pid: number | "self") => Number(readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[38]);
    assertEq(policyOf("self"), 1, "runner scheduling policy (1 = SCHED_FIFO)");
    const f = probeKernel();
    assert(f.schedExt && f.tpBtfSchedProcessExec && f.mapTypes.ringbuf && f.mapTypes.taskStorage, `features ${JSON.stringify(f)}`);
    return `libbpf ${f.libbpfVersion}, memcg_bpf_ops ${f.memcgBpfOps ? "present" : "absent"}`;
  });
  mkCgroup(TEST_ROOT);
  writeFileSync(join(TEST_ROOT, "cgroup.subtree_control"), "+cpu +memory");

  for (const e of index.entries.filter((x) => x.kind !== "random")) {
    if (!e.ok) fail(`${e.source}: compiles`, e.error ?? "not compiled");
    else await fullPolicyTests(e);
  }

  const random = index.entries.filter((x) => x.kind === "random");
  const randomRows: VerifierRow[] = [];
  const tr = performance.now();
  for (const e of random) {
    if (!e.ok) {
      fail(`random ${e.source}: compiles`, e.error ?? "not compiled");
      continue;
    }
    const r = await randomPolicyLoad(e);
    if (r) randomRows.push(...r);
  }
  await randomHotSwap(
    random.filter((e) => e.ok),
    index.seed,
  );
  rmCgroup(TEST_ROOT);

  // The verifier table: every program of the shipped and test policies; for random ones the maximum per program.
  const maxRows = new Map<string, VerifierRow & { policy: string; kind: string }>();
  for (const r of randomRows) {
    const k = `${r.object}/${r.program}`;
    const m = maxRows.get(k);
    if (!m || r.verifiedInsns > m.verifiedInsns) maxRows.set(k, { ...r, policy: `random (max of ${random.length})`, kind: "random" });
  }
  const table = [...verifierTable, ...maxRows.values()];
  console.log(`\nverifier table (${table.length} rows):\n${printVerifierTable(table)}\n`);
  console.log(`random policies: ${random.length} in ${((performance.now() - tr) / 1000).toFixed(1)} s`);
  const resultsDir = join(process.cwd(), "test/kernel/results");
  mkdirSync(resultsDir, { recursive: true });
  const kernel = readTrim("/proc/sys/kernel/osrelease");
  writeFileSync(
    join(resultsDir, "verifier.json"),
    `${JSON.stringify({ kernel, seed: index.seed, randomPolicies: random.length, rows: table }, null, 2)}\n`,
  );
  writeFileSync(
    join(resultsDir, "verifier.md"),
    `# Verifier table\n\nGenerated by \`npm run test:kernel\` in the test-bed guest (kernel ${kernel}, TCG); ` +
      `times vary run to run, instruction counts do not.\n\n\`\`\`\n${printVerifierTable(table)}\n\`\`\`\n`,
  );
  console.log(`suite time in guest: ${((performance.now() - t0) / 1000).toFixed(1)} s; results in test/kernel/results/`);
  const code = summary();
  const failedOutcomes = results().filter((o) => !o.ok).length;
  process.exitCode = code || (failedOutcomes ? 1 : 0);
}

main().catch((e) => {
  console.error("kernel suite crashed:", e);
  console.log("\n0 passed, 1 failed");
  process.exitCode = 1;
});
