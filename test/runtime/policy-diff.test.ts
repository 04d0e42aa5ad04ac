// acgc diff and acgc apply --dry-run: the settings that change, and the swap
// kind acgd would use (runtime/swap-kind.ts), from .acg files and compiled directories.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../../cli/acgc.js";
import { acgdOnSocket, TEST_POLICY, type SocketAcgd } from "./helpers.js";

const tmp = mkdtempSync(join(tmpdir(), "acg-diff-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const file = (name: string, text: string) => {
  const p = join(tmp, name);
  writeFileSync(p, text);
  return p;
};
async function acgc(argv: string[]) {
  let out = "";
  let err = "";
  const code = await main(argv, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

const OLD = file("old.acg", TEST_POLICY);
// Numbers and order only: the same code, written into the running maps.
const DATA = file(
  "data.acg",
  TEST_POLICY.replace("class build { priority = normal; cpu.weight = 100 }", "class build { priority = normal; cpu.weight = 150 }").replace(
    "memory.baseline = 16MiB\n    memory.limit = 64MiB",
    "memory.baseline = 32MiB\n    memory.limit = 64MiB",
  ),
);
// No rule with a baseline: the scheduler's memory demotion code goes, so new objects.
const CODE = file(
  "code.acg",
  TEST_POLICY.replace(/\n\s*memory\.baseline = \d+MiB/g, "")
    .replace(/\n\s*memory\.burst = [^\n]*/g, "")
    .replace(/\n\s*over_high [^\n]*/g, ""),
);
// Another exe for a rule: the scheduler's code is the same, the exec classifier's program is not.
const MATCHERS = file("matchers.acg", TEST_POLICY.replace('match exe == "git"', 'match exe in ["git", "hg"]'));

describe("acgc diff", () => {
  it("names each changed setting and a data swap when the code is the same (exit 1: they differ)", async () => {
    const r = await acgc(["diff", OLD, DATA]);
    expect(r.code).toBe(1);
    expect(r.out).toContain("~ class build\n    cpu.weight: 100 -> 150\n");
    expect(r.out).toContain("~ rule tests\n    memory.baseline: 16MiB -> 32MiB\n");
    expect(r.out).toMatch(/^swap: data \(same code features/m);
    expect(r.out).toContain("apply: acgc apply NEW swaps it in place");
  });

  it("an object swap when the code features change; acgd would refuse it as a .acg file", async () => {
    const r = await acgc(["diff", OLD, CODE, "--json"]);
    expect(r.code).toBe(1);
    const d = JSON.parse(r.out);
    expect(d.swap.kind).toBe("objects");
    expect(d.swap.why).toContain('{"memoryDemotion":false} vs {"memoryDemotion":true}');
    expect(d.apply).toContain("compile it (acgc compile NEW -o DIR) and apply DIR");
    expect(d.changes).toContainEqual({ what: "rule tests", setting: "memory.baseline", old: "16MiB", new: "none" });
  });

  it("a classifier swap when only exe/path matchers change: the scheduler stays, a compiled directory is needed", async () => {
    const r = await acgc(["diff", OLD, MATCHERS, "--json"]);
    expect(r.code).toBe(1);
    const d = JSON.parse(r.out);
    expect(d.swap.kind).toBe("classifier");
    expect(d.swap.why).toContain("attached before the old one is detached");
    expect(d.swap.why).toContain("its exe/path matchers differ");
    expect(d.apply).toContain("compile it (acgc compile NEW -o DIR) and apply DIR");
    const dir = join(tmp, "compiled-matchers");
    expect((await acgc(["compile", MATCHERS, "-o", dir, "--dry-run"])).code).toBe(0);
    const compiled = await acgc(["diff", OLD, dir]);
    expect(compiled.out).toMatch(/^swap: classifier/m);
    expect(compiled.out).toContain("apply: acgc apply NEW replaces the exec classifier's program; the scheduler stays attached");
  });

  it("reads compiled directories (the running side's code features from its manifest)", async () => {
    const dir = join(tmp, "compiled-old");
    expect((await acgc(["compile", OLD, "-o", dir, "--dry-run"])).code).toBe(0);
    const manifest = JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8"));
    expect(manifest.codeFeatures).toEqual({ memoryDemotion: true });
    const same = await acgc(["diff", dir, OLD]);
    expect(same.code).toBe(0);
    expect(same.out).toContain("no setting changes");
    expect((await acgc(["diff", dir, CODE])).out).toMatch(/^swap: objects/m);
  });

  it("a policy with errors or a wrong argument count exits 2 with the located error", async () => {
    const broken = file("broken.acg", TEST_POLICY.replace("class build", "clas build"));
    const r = await acgc(["diff", OLD, broken]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/broken\.acg:\d+:\d+: error\[E\d{4}\]/);
    expect(r.err).toContain(`acgc diff: ${broken} cannot be compared`);
    expect((await acgc(["diff", OLD])).code).toBe(2);
  });
});

describe("acgc apply --dry-run", () => {
  const socketPath = join(tmpdir(), `acg-dry-${process.pid}.sock`);
  let acgd: SocketAcgd;
  beforeAll(async () => {
    acgd = await acgdOnSocket(socketPath, TEST_POLICY);
  });
  afterAll(() => acgd.close());

  it("shows what would change in the running acgd and applies nothing", async () => {
    const r = await acgc(["apply", DATA, "--dry-run", "--socket", socketPath]);
    expect(r.code).toBe(0);
    expect(r.out).toContain("~ class build\n    cpu.weight: 100 -> 150\n");
    expect(r.out).toContain("swap: none (acgd runs no sched_ext scheduler");
    expect(r.out).toMatch(/dry run: nothing was applied\n$/);
    expect(acgd.rt.calls.policy.classes.find((c) => c.name === "build")!.cpuWeight).toBe(100);
    const broken = await acgc(["apply", file("b2.acg", "version 1\npolicy x {"), "--dry-run", "--socket", socketPath]);
    expect(broken.code).toBe(1);
    expect(broken.err).toContain("acgd would refuse it");
  });
});
