// The generated exec classifier on the host's real kernel (tp_btf/sched_process_exec
// needs no sched_ext): copies of /bin/true exec'd under chosen names, and the
// rule the BPF program put in each exec's ring-buffer record must be the one the
// Kleene reference picks (test/compiler/classifier-reference.ts): exact names,
// globs over the basename and the full name, `not`, an argv predicate before a
// decidable rule, and names too long for the kernel's buffer (left to user space).
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CAPACITY } from "../../compiler/abi.js";
import { compilePolicy } from "../../compiler/compile.js";
import { ACG_NONE } from "../../compiler/decide.js";
import { decodeExecEvent, type ExecEvent } from "../../runtime/exec-classifier.js";
import { RingBuffer } from "../../runtime/ring-buffer.js";
import { spawnInCgroup, waitPidfd } from "../../runtime/spawn.js";
import { PolicyObjects } from "../../runtime/policy-objects.js";
import { referenceVerdict } from "../compiler/classifier-reference.js";
import { policyOf } from "./helpers.js";
import { waitUntil } from "../wait.js";

const tmp = mkdtempSync(join(tmpdir(), "acg-cls-"));
const bin = join(tmp, "bin");
const policy = policyOf(`version 1
policy classify_test {
  host { memory = 1GiB }
  class a { priority = high }
  class b { priority = low }
  tool vcs { match exe in ["git", "hg"]; class a }
  tool cc { match exe matches ["cc1*", "*-gcc-?"] and not exe == "cc1-slow"; class b }
  tool scripts { match path matches "${bin}/run-*.sh"; class a }
  tool py { match exe == "python3" and argv ~ /-m pytest/; class b }
  tool tools { match exe matches "*tool"; class a }
  tool default { class b }
}
`);
let po: PolicyObjects;
let ring: RingBuffer;
const events: ExecEvent[] = [];

beforeAll(async () => {
  mkdirSync(bin);
  const r = await compilePolicy(policy, { outDir: join(tmp, "compiled") });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => d.message).join("; "));
  po = PolicyObjects.open(join(tmp, "compiled"));
  po.load("classifier");
  po.writePolicy(policy);
  po.attachClassifier();
  ring = new RingBuffer(po.map("acg_events"), (rec) => events.push(decodeExecEvent(rec)));
}, 120_000);
afterAll(() => {
  ring?.close();
  po?.close();
  rmSync(tmp, { recursive: true, force: true });
});

async function execAs(name: string): Promise<ExecEvent> {
  const file = join(bin, name);
  copyFileSync("/bin/true", file);
  chmodSync(file, 0o755);
  const child = spawnInCgroup({ file, argv: [name], stdio: [null, null, null] });
  await waitPidfd(child.pidfd);
  expect(await waitUntil(() => events.some((e) => e.tgid === child.pid), 5000)).toBe(true);
  return events.find((e) => e.tgid === child.pid)!;
}

describe("the generated exec classifier on a real kernel", () => {
  it("verifies in a few hundred instructions", () => {
    const rows = po.verifierRows();
    expect(rows.length).toBe(1);
    expect(rows[0]!.verifiedInsns).toBeGreaterThan(0);
    expect(rows[0]!.verifiedInsns).toBeLessThanOrEqual(20_000);
  });

  it("picks the rule the Kleene reference picks, for every kind of name", async () => {
    const names = [
      "git",
      "hg",
      "gitk",
      "cc1",
      "cc1plus",
      "cc1-slow",
      "x86_64-linux-gnu-gcc-12",
      "arm-gcc-1",
      "arm-gcc-12",
      "run-a.sh",
      "run-.sh",
      "run-a.shx",
      "python3",
      "mytool",
      "tool",
      "tools",
      "true",
      `${"t".repeat(150)}tool`,
    ];
    const rules = (id: number) => (id === ACG_NONE ? "user space" : policy.rules[id]!.name);
    for (const name of names) {
      const ev = await execAs(name);
      expect(ev.filename).toBe(join(bin, name));
      expect(rules(ev.ruleId), name).toBe(rules(referenceVerdict(policy, ev.filename)));
    }
    const verdict = async (n: string) => rules((await execAs(n)).ruleId);
    expect(await verdict("git")).toBe("vcs");
    expect(await verdict("cc1plus")).toBe("cc");
    expect(await verdict("cc1-slow")).toBe("default");
    expect(await verdict("python3")).toBe("user space"); // py's argv test decides it, in user space
    expect(await verdict("run-x.sh")).toBe("scripts");
  }, 60_000);

  it("leaves a name that fills the kernel's buffer to user space", async () => {
    const name = `${"t".repeat(CAPACITY.pathLen - bin.length - 5)}tool`;
    expect(join(bin, name).length).toBeGreaterThanOrEqual(CAPACITY.pathLen - 1);
    const ev = await execAs(name);
    expect(ev.ruleId).toBe(ACG_NONE);
  });

  it("counts no dropped event while the ring buffer keeps up", () => {
    expect(po.execEventDrops()).toBe(0n);
  });
});
