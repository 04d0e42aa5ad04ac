// Host side of the runtime's guest tests: compiles the scheduler-path
// policies into OUT/{v1,v2,v2m,v3,v4,ladder}/ (objects, manifest.json, and the ir.json acgd
// reads beside them).
//   node dist/test/kernel/runtime-prepare.js OUT

import { cpSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { compilePolicy } from "../../compiler/compile.js";
import { loadPolicySource } from "../../runtime/policy-source.js";
import {
  GUEST_POLICY,
  GUEST_POLICY_DATA_CHANGE,
  GUEST_POLICY_MATCHER_CHANGE,
  GUEST_POLICY_SHAPE_CHANGE,
  HELD_LADDER_POLICY,
} from "./runtime-policies.js";

const out = process.argv[2];
if (!out) {
  process.stderr.write("usage: runtime-prepare.js OUT\n");
  process.exit(2);
}
for (const [name, text] of [
  ["v1", GUEST_POLICY],
  ["v2", GUEST_POLICY_DATA_CHANGE],
  ["v2m", GUEST_POLICY_MATCHER_CHANGE],
  ["v3", GUEST_POLICY_SHAPE_CHANGE],
  ["ladder", HELD_LADDER_POLICY],
] as const) {
  const loaded = loadPolicySource(`${name}.acg`, text);
  if (!loaded.ok) throw new Error(`${name}: ${loaded.message}`);
  const dir = join(out, name);
  mkdirSync(dir, { recursive: true });
  const r = await compilePolicy(loaded.ir, { outDir: dir });
  if (!r.ok) throw new Error(`${name}: ${r.diagnostics.map((d) => d.message).join("; ")}`);
  writeFileSync(join(dir, "ir.json"), JSON.stringify(loaded.ir));
}
// v4: v3 with a scheduler object that cannot load (truncated): a replacement that must change nothing.
cpSync(join(out, "v3"), join(out, "v4"), { recursive: true });
const obj = join(out, "v4", "scheduler.bpf.o");
writeFileSync(obj, readFileSync(obj).subarray(0, 512));
