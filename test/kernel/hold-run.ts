// Focused run of the memory-hold tests (test/kernel/hold.ts) in the guest,
// for iterating on the hold path without the whole kernel suite:
//
//   node dist/test/kernel/prepare.js .cache/kernel-tests --random 0   (host)
//   scripts/guest-run.sh --cpus 1 -- chrt --reset-on-fork --fifo 10 \
//     node dist/test/kernel/hold-run.js .cache/kernel-tests            (guest)
//
// Every shipped policy's scheduler is loaded (the verifier's verdict), then
// the test policy's is attached and the hold tests run.
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { PolicyIR } from "../../compiler/ir.js";
import { PolicyObjects } from "../../runtime/policy-objects.js";
import { assert, assertEq, summary, test } from "./harness.js";
import { holdTests } from "./hold.js";
import type { SuiteIndex } from "./prepare.js";

async function main(): Promise<void> {
  const out = resolve(process.argv[2] ?? ".cache/kernel-tests");
  const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8")) as SuiteIndex;
  for (const e of index.entries.filter((x) => x.ok && x.kind !== "random")) {
    await test(`${e.name}: scheduler accepted by the verifier`, () => {
      const po = PolicyObjects.open(e.dir);
      try {
        const rows = po.load("scheduler");
        assert(
          rows.every((r) => r.verifiedInsns > 0),
          "verified_insns > 0",
        );
        return rows.map((r) => `${r.program}=${r.verifiedInsns}`).join(" ");
      } finally {
        po.close();
      }
    });
  }
  const entry = index.entries.find((x) => x.ok && x.kind === "test");
  assert(entry, "no test policy in the index");
  const ir = JSON.parse(readFileSync(join(entry.dir, "ir.json"), "utf8")) as PolicyIR;
  const po = PolicyObjects.open(entry.dir);
  const root = "/sys/fs/cgroup/acg-hold";
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, "cgroup.subtree_control"), "+cpu +memory");
  try {
    po.load("scheduler");
    po.writePolicy(ir);
    po.attachScheduler();
    await holdTests(po, ir, root, join(out, "bin"));
    await test("scheduler still enabled after the holds", () => {
      assertEq(readFileSync("/sys/kernel/sched_ext/state", "utf8").trim(), "enabled", "state");
      const ex = po.exitInfo();
      assertEq(ex?.kind, 0, `exit kind (reason "${ex?.reason}", msg "${ex?.msg}")`);
    });
  } finally {
    po.close();
    rmdirSync(root);
  }
  process.exitCode = summary();
}

main().catch((e) => {
  console.error("hold run crashed:", e);
  process.exitCode = 1;
});
