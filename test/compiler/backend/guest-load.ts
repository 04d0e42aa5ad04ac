// Guest check of the compiled objects on the test-bed kernel (not a vitest
// file: it needs root, sched_ext and the native loader):
//   npx tsc -p . --outDir .cache/be-dist && scripts/guest-run.sh -- node .cache/be-dist/test/compiler/backend/guest-load.js
// Compiles the sample policy, loads the scheduler with its policy data, attaches
// it, runs CPU-bound work in two tool-call cgroups of different classes, reads
// the stats, detaches; loads and attaches the exec classifier and reads an
// event; expects the memcg hooks to be refused.

import { execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { encodeActiveGen, encodeCgroupKey, encodeCgroupValue, encodeU32, encodePolicy } from "../../../compiler/abi-encode.js";
import { classStatsStruct, layoutOf } from "../../../compiler/abi.js";
import { compilePolicy } from "../../../compiler/compile.js";
import { BpfObject } from "../../../runtime/bpf-object.js";
import { parseKeyed } from "../../../runtime/cgroup-files.js";
import { isBpfError } from "../../../runtime/native-addon.js";
import { RingBuffer } from "../../../runtime/ring-buffer.js";
import { sampleIR } from "./fixtures.js";

const out = join(process.cwd(), ".cache", "guest-load");

function report(what: string, ok: boolean, detail = ""): void {
  console.log(`${ok ? "PASS" : "FAIL"} ${what}${detail ? `: ${detail}` : ""}`);
  if (!ok) process.exitCode = 1;
}

async function main(): Promise<void> {
  const ir = sampleIR({ name: "guest_sample" });
  const r = await compilePolicy(ir, { outDir: out });
  report("compile", r.ok, JSON.stringify(r.diagnostics));
  const policy = encodePolicy(ir);

  // Scheduler
  const sched = BpfObject.open(join(out, "scheduler.bpf.o"));
  try {
    sched.load();
    report(
      "scheduler verifier",
      true,
      sched
        .programStats()
        .map((p) => `${p.name}=${p.verifiedInsns}`)
        .join(" "),
    );
  } catch (e) {
    report("scheduler verifier", false, isBpfError(e) ? (e.verifierLog ?? "").split("\n").slice(-40).join("\n") : String(e));
    return;
  }
  sched.map("acg_policy").update(encodeU32(1), policy);
  sched.map("acg_gen").update(encodeU32(0), encodeActiveGen(1));

  const root = "/sys/fs/cgroup";
  writeFileSync(join(root, "cgroup.subtree_control"), "+cpu +memory");
  const cgs = [
    { name: "acg-tc-interactive", rule: 1 },
    { name: "acg-tc-background", rule: 2 },
  ];
  for (const c of cgs) {
    mkdirSync(join(root, c.name), { recursive: true });
    const id = statSync(join(root, c.name)).ino;
    sched.map("acg_cgroups").update(encodeCgroupKey(id), encodeCgroupValue({ ruleId: c.rule, agentId: 0 }));
  }
  const link = sched.attachStructOps("acg_ops");
  const state = readFileSync("/sys/kernel/sched_ext/state", "utf8").trim();
  const ops = readFileSync("/sys/kernel/sched_ext/root/ops", "utf8").trim();
  report("sched_ext enabled with our ops", state === "enabled" && ops === "acg_guest_sample", `${state} ${ops}`);

  // One CPU-bound task per cgroup, both pinned to CPU 0: classes 0 (high, w300) vs 2 (low, w50).
  const kids = cgs.map((c) => {
    const child = spawn("sh", ["-c", `echo $$ > ${join(root, c.name, "cgroup.procs")}; exec taskset -c 0 sh -c 'while :; do :; done'`], {
      stdio: "ignore",
    });
    return child;
  });
  await sleep(3000);
  const statLayout = layoutOf(classStatsStruct);
  const totals = [0, 1, 2].map((cls) => {
    const v = sched.map("acg_stats").lookup(encodeU32(cls));
    let enq = 0n,
      disp = 0n,
      run = 0n;
    for (let off = 0; v && off + statLayout.size <= v.length; off += statLayout.size) {
      enq += v.readBigUInt64LE(off);
      disp += v.readBigUInt64LE(off + 8);
      run += v.readBigUInt64LE(off + 16);
    }
    return { cls, enq, disp, runMs: Number(run / 1_000_000n) };
  });
  report(
    "stats count the two busy classes",
    totals[0]!.enq > 0n && totals[2]!.enq > 0n && totals[1]!.enq === 0n,
    JSON.stringify(totals, (_k, v) => (typeof v === "bigint" ? String(v) : v)),
  );
  const usage = cgs.map((c) => parseKeyed(readFileSync(join(root, c.name, "cpu.stat"), "utf8"))["usage_usec"] ?? 0);
  report("high class gets more CPU than low (same CPU)", usage[0]! > usage[1]!, `usage_usec ${usage.join(" vs ")}`);
  for (const k of kids) k.kill("SIGKILL");
  await sleep(300);
  link.destroy();
  await sleep(300);
  const exitRec = sched.map("acg_exit").lookup(encodeU32(0));
  report(
    "detached",
    readFileSync("/sys/kernel/sched_ext/state", "utf8").trim() === "disabled",
    `exit kind ${exitRec?.readUInt32LE(0)} reason "${exitRec?.subarray(16, 144).toString().replace(/\0.*$/s, "")}"`,
  );
  sched.close();
  for (const c of cgs) rmdirSync(join(root, c.name));

  // Classifier
  const cls = BpfObject.open(join(out, "classifier.bpf.o"));
  try {
    cls.load();
    report(
      "classifier verifier",
      true,
      cls
        .programStats()
        .map((p) => `${p.name}=${p.verifiedInsns}`)
        .join(" "),
    );
  } catch (e) {
    report("classifier verifier", false, isBpfError(e) ? (e.verifierLog ?? "").split("\n").slice(-40).join("\n") : String(e));
    return;
  }
  cls.map("acg_policy").update(encodeU32(0), policy);
  const events: Buffer[] = [];
  const rb = new RingBuffer(cls.map("acg_events"), (rec) => events.push(rec));
  const clink = cls.attachProgram("acg_on_exec");
  execFileSync("/usr/bin/make", ["--version"], { stdio: "ignore" });
  await sleep(100);
  rb.consume();
  const make = events.find((e) => e.subarray(40).toString().startsWith("/usr/bin/make"));
  report(
    "exec event for make, classified as rule 0 (build)",
    make?.readUInt32LE(16) === 0,
    `${events.length} events; make rule=${make?.readUInt32LE(16)}`,
  );
  clink.destroy();
  rb.close();
  cls.close();

  // memcg hooks: refused on kernels without memcg_bpf_ops
  const memcg = BpfObject.open(join(out, "memcg.bpf.o"));
  try {
    memcg.load();
    report("memcg hooks refused (kernel lacks memcg_bpf_ops)", false, "loaded?!");
  } catch (e) {
    report("memcg hooks refused (kernel lacks memcg_bpf_ops)", true, String((e as Error).message).slice(0, 200));
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
