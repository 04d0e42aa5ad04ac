import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, existsSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { daemonClassId, encodeCgroupValue, encodePolicy } from "../../../compiler/abi-encode.js";
import { CAPACITY, layoutOf, policyStruct } from "../../../compiler/abi.js";
import { clangInvocations, findClang } from "../../../compiler/build.js";
import { compilePolicy } from "../../../compiler/compile.js";
import { loadPolicyText } from "../../../compiler/frontend.js";
import { lowerPolicy } from "../../../compiler/lower.js";
import { MEMCG_MEMBERS } from "../../../compiler/manifest.js";
import { run } from "../cli-harness.js";
import { sampleIR } from "./fixtures.js";

const REPO = join(import.meta.dirname, "..", "..", "..");
const tmp = mkdtempSync(join(tmpdir(), "acg-backend-"));
const savedCache = process.env.ACG_CACHE_DIR;

beforeAll(() => {
  process.env.ACG_CACHE_DIR = join(tmp, "cache");
});
afterAll(() => {
  if (savedCache === undefined) delete process.env.ACG_CACHE_DIR;
  else process.env.ACG_CACHE_DIR = savedCache;
  rmSync(tmp, { recursive: true, force: true });
});

/** Struct `name` in the object's BTF: its member names in order. */
function btfMembers(obj: string, name: string): string[] {
  const raw = execFileSync("bpftool", ["btf", "dump", "file", obj], { encoding: "utf8", maxBuffer: 64 << 20 });
  const lines = raw.split("\n");
  const at = lines.findIndex((l) => l.includes(`STRUCT '${name}' `));
  if (at < 0) return [];
  const members: string[] = [];
  for (const l of lines.slice(at + 1)) {
    const m = /^\s+'([^']+)' type_id=/.exec(l);
    if (!m) break;
    members.push(m[1]!);
  }
  return members;
}

/** Variables of the object's .maps section, from BTF. */
function btfMaps(obj: string): string[] {
  const raw = execFileSync("bpftool", ["btf", "dump", "file", obj], { encoding: "utf8", maxBuffer: 64 << 20 });
  const lines = raw.split("\n");
  const at = lines.findIndex((l) => l.includes("DATASEC '.maps'"));
  const names: string[] = [];
  for (const l of lines.slice(at + 1)) {
    const m = /type_id=\d+ offset=\d+ size=\d+ \(VAR '([^']+)'\)/.exec(l);
    if (!m) break;
    names.push(m[1]!);
  }
  return names.sort();
}

describe("compilePolicy", () => {
  const out = join(tmp, "out");
  let first: Awaited<ReturnType<typeof compilePolicy>>;

  beforeAll(async () => {
    first = await compilePolicy(sampleIR(), { outDir: out });
  }, 120_000);

  it("builds three BPF objects with no diagnostics", () => {
    expect(first.diagnostics).toEqual([]);
    expect(first.ok).toBe(true);
    expect(first.objects.map((o) => o.object).sort()).toEqual(["classifier", "memcg", "scheduler"]);
    for (const o of first.objects) {
      const elf = readFileSync(o.file);
      expect(elf.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
      expect(elf.readUInt16LE(18)).toBe(247); // EM_BPF
    }
    for (const f of ["manifest.json", "policy.ts", "acg_abi.h", "scheduler.bpf.c", "memcg.bpf.c", "classifier.bpf.c"]) {
      expect(existsSync(join(out, f))).toBe(true);
    }
  });

  it("records clang's version in the manifest, read from an object it built on a cold cache, and remembers it", () => {
    const clang = findClang()!;
    const versionLine = execFileSync(clang.path, ["--version"], { encoding: "utf8" }).split("\n")[0]!.trim();
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    expect(manifest.build.clang).toBe(versionLine);
    expect(clang.version).toBe(versionLine);
    const memos = readdirSync(join(tmp, "cache", "toolchains"));
    expect(memos.map((m) => readFileSync(join(tmp, "cache", "toolchains", m), "utf8"))).toEqual([versionLine]);
  });

  it("declares sched_ext_ops and memcg_bpf_ops (members in the RFC's order) in BTF", () => {
    expect(btfMembers(join(out, "scheduler.bpf.o"), "sched_ext_ops")).toEqual(
      expect.arrayContaining(["select_cpu", "enqueue", "dispatch", "tick", "exit_task", "init", "exit", "name"]),
    );
    expect(btfMembers(join(out, "memcg.bpf.o"), "memcg_bpf_ops")).toEqual(MEMCG_MEMBERS);
    expect(btfMembers(join(out, "scheduler.bpf.o"), "memcg_bpf_ops")).toEqual([]);
  });

  it("names the ops after the policy", () => {
    expect(readFileSync(join(out, "scheduler.bpf.c"), "utf8")).toContain('.name = "acg_sample"');
    expect(first.manifest?.policy.opsName).toBe("acg_sample");
  });

  it("lists in the manifest exactly the maps each object declares, with layouts", () => {
    const manifest = JSON.parse(readFileSync(join(out, "manifest.json"), "utf8"));
    for (const o of manifest.objects) expect(btfMaps(join(out, o.file))).toEqual([...o.maps].sort());
    const policyMap = manifest.maps.find((m: { name: string }) => m.name === "acg_policy");
    expect(policyMap.valueSize).toBe(layoutOf(policyStruct).size);
    expect(manifest.structs.acg_rule.fields.find((f: { name: string }) => f.name === "class_id").offset).toBe(80);
    expect(manifest.policyParts.data.length).toBeGreaterThan(0);
    expect(manifest.build.flags).toContain("-mcpu=v3");
  });

  it("writes a typed module with map types and the manifest", () => {
    const text = readFileSync(join(out, "policy.ts"), "utf8");
    expect(text).toContain("export interface AcgPolicy");
    expect(text).toContain("export interface MapTypes");
    expect(text).toMatch(/acg_cgroups: \{\s*key: bigint;\s*value: AcgCgroupInfo;?\s*\}/);
    expect(text).toContain("export const manifest");
  });

  it("writes a policy.ts that type-checks in strict mode (compile itself does not check it)", async () => {
    const { default: ts } = await import("typescript");
    const files = [join(out, "policy.ts")];
    const program = ts.createProgram(files, {
      strict: true,
      noEmit: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      lib: ["lib.es2022.d.ts"],
      types: [],
    });
    const problems = ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    expect(problems).toEqual([]);
  }, 60_000);

  it("does not run clang again for an unchanged policy", async () => {
    const before = clangInvocations();
    const again = await compilePolicy(sampleIR(), { outDir: join(tmp, "out2") });
    expect(again.ok).toBe(true);
    expect(clangInvocations()).toBe(before);
    expect(again.objects.every((o) => o.cached)).toBe(true);
    expect(readFileSync(join(tmp, "out2", "scheduler.bpf.o"))).toEqual(readFileSync(join(out, "scheduler.bpf.o")));
  });

  it("reuses the objects when only numbers change in the .acg text (data, not code)", async () => {
    const text = readFileSync(join(REPO, "policies", "swe-agents.acg"), "utf8");
    const compileText = async (src: string, dir: string) => {
      const front = loadPolicyText("swe-agents.acg", src);
      expect(front.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
      return compilePolicy(lowerPolicy(front.checked!), { outDir: join(tmp, dir) });
    };
    const base = await compileText(text, "numbers-a");
    expect(base.ok).toBe(true);
    // Numbers of every kind (weights, sizes, durations, percentages), a comment
    // and the layout: the source hash changes, the C must not.
    const edited = `// an edit above the policy\n${text}`
      .replace("cpu.weight = 400", "cpu.weight = 700")
      .replace("memory.baseline = 512MiB", "memory.baseline = 640MiB")
      .replace("memory.limit = 8GiB", "memory.limit = 12GiB")
      .replace("memory.burst = 3GiB for 60s, refill 120s", "memory.burst = 2GiB for 45s, refill 90s")
      .replace("> 40% for 1s", "> 55% for 3s")
      .replace("max_agents = 16", "max_agents = 24");
    expect(edited).not.toBe(text);
    const before = clangInvocations();
    const again = await compileText(edited, "numbers-b");
    expect(again.ok).toBe(true);
    expect(clangInvocations()).toBe(before);
    expect(again.objects.every((o) => o.cached)).toBe(true);
    for (const f of ["scheduler.bpf.c", "memcg.bpf.c", "classifier.bpf.c"]) {
      expect(readFileSync(join(tmp, "numbers-b", f), "utf8")).toBe(readFileSync(join(tmp, "numbers-a", f), "utf8"));
    }
    expect(again.manifest!.policy.sourceHash).not.toBe(base.manifest!.policy.sourceHash);
  }, 120_000);
});

describe("compilePolicy modes and failures", () => {
  it("--emit c returns the C without writing objects", async () => {
    const r = await compilePolicy(sampleIR(), { outDir: join(tmp, "emit"), emit: "c" });
    expect(r.ok).toBe(true);
    expect(r.c).toContain("struct sched_ext_ops acg_ops");
    expect(r.c).toContain("struct memcg_bpf_ops acg_memcg_ops");
    expect(existsSync(join(tmp, "emit"))).toBe(false);
  });

  it("--dry-run writes C, manifest and policy.ts but no object", async () => {
    const before = clangInvocations();
    const dir = join(tmp, "dry");
    const r = await compilePolicy(sampleIR(), { outDir: dir, dryRun: true });
    expect(r.ok).toBe(true);
    expect(clangInvocations()).toBe(before);
    expect(existsSync(join(dir, "manifest.json"))).toBe(true);
    expect(existsSync(join(dir, "scheduler.bpf.o"))).toBe(false);
  });

  it("reports a missing clang with the way to install it", async () => {
    process.env.ACG_CLANG = "/nonexistent/clang";
    try {
      const r = await compilePolicy(sampleIR(), { outDir: join(tmp, "noclang") });
      expect(r.ok).toBe(false);
      expect(r.diagnostics[0]).toMatchObject({ code: "E9001", help: expect.stringContaining("scripts/setup-system.sh") });
    } finally {
      delete process.env.ACG_CLANG;
    }
  });

  it("reports a clang that is there but does not start as the toolchain's fault (E9001), not the C's", async () => {
    // Executable, so findClang() takes it without running it; its interpreter does not exist.
    process.env.ACG_CLANG = join(tmp, "broken-clang");
    writeFileSync(process.env.ACG_CLANG, "#!/nonexistent/interpreter\n", { mode: 0o755 });
    try {
      const r = await compilePolicy(sampleIR({ name: "brokenclang" }), { outDir: join(tmp, "brokenclang") });
      expect(r.ok).toBe(false);
      // Once, though every object's build found it so.
      expect(r.diagnostics).toHaveLength(1);
      expect(r.diagnostics[0]).toMatchObject({
        code: "E9001",
        message: `clang at ${process.env.ACG_CLANG} does not run: ENOENT`,
        help: expect.stringContaining("ACG_CLANG"),
      });
    } finally {
      delete process.env.ACG_CLANG;
    }
  });

  it("reports clang errors against the generated file and line", async () => {
    process.env.ACG_CLANG = join(tmp, "fake-clang.sh");
    execFileSync("sh", [
      "-c",
      `printf '#!/bin/sh\\nif [ "$1" = --version ]; then echo "fake clang 1"; exit 0; fi\\n` +
        `echo "$PWD/x/scheduler.bpf.c:12:3: error: boom" >&2; exit 1\\n' > ${process.env.ACG_CLANG}; ` +
        `chmod +x ${process.env.ACG_CLANG}`,
    ]);
    try {
      const r = await compilePolicy(sampleIR({ name: "clangfail" }), { outDir: join(tmp, "fail") });
      expect(r.ok).toBe(false);
      expect(r.diagnostics[0]).toMatchObject({ severity: "error", code: "E9002", line: 12, column: 3, message: "boom" });
    } finally {
      delete process.env.ACG_CLANG;
    }
  });

  it("refuses a policy over the compiled capacities with a diagnostic", async () => {
    const ir = sampleIR();
    ir.exePatterns = Array.from({ length: CAPACITY.patterns + 1 }, (_, index) => ({
      index,
      subject: "exe" as const,
      kind: "exact" as const,
      text: `p${index}`,
    }));
    const r = await compilePolicy(ir, { outDir: join(tmp, "cap") });
    expect(r.ok).toBe(false);
    expect(r.diagnostics[0]).toMatchObject({ code: "E9003" });
  });
});

describe("acgc compile and the compile cache", () => {
  it("serves an unchanged policy's whole result from the cache, and an edited one through the compiler", async () => {
    const policy = join(REPO, "policies", "swe-agents.acg");
    const dir = (name: string) => join(tmp, name);
    const first = await run(["compile", policy, "-o", dir("cli-a")]);
    expect(first.code).toBe(0);
    const before = clangInvocations();
    const again = await run(["compile", policy, "-o", dir("cli-b")]);
    expect(again.code).toBe(0);
    expect(again.err).toContain("the whole result from the cache");
    expect(clangInvocations()).toBe(before);
    // The same files, and the same messages (swe-agents has notes) but for how the result was made.
    for (const f of readdirSync(dir("cli-a"))) expect(readFileSync(join(dir("cli-b"), f))).toEqual(readFileSync(join(dir("cli-a"), f)));
    const messages = (err: string, out: string) =>
      err
        .replaceAll(out, "OUT")
        .replaceAll(" (cached)", "")
        .split("\n")
        .filter((l) => !/^ {2}(codegen|unchanged)/.test(l));
    expect(messages(again.err, dir("cli-b"))).toEqual(messages(first.err, dir("cli-a")));
    // Another text (a comment added) is compiled again; its C is the same, so clang does not run.
    const edited = join(tmp, "edited.acg");
    writeFileSync(edited, `// an edit\n${readFileSync(policy, "utf8")}`);
    const third = await run(["compile", edited, "-o", dir("cli-c")]);
    expect(third.code).toBe(0);
    expect(third.err).not.toContain("from the cache");
    expect(third.err).toContain("scheduler.bpf.o (cached)");
    expect(clangInvocations()).toBe(before);
  }, 120_000);
});

describe("abi-encode", () => {
  it("encodes the policy generation at the manifest's offsets", () => {
    const buf = encodePolicy(sampleIR());
    const l = layoutOf(policyStruct);
    expect(buf.length).toBe(l.size);
    const hdr = l.fields.find((f) => f.name === "hdr")!.struct!;
    const off = (s: typeof hdr, name: string) => s.fields.find((f) => f.name === name)!.offset;
    expect(buf.readUInt32LE(off(hdr, "nr_rules"))).toBe(3);
    expect(buf.readUInt32LE(off(hdr, "default_rule"))).toBe(2);
    const rules = l.fields.find((f) => f.name === "rules")!;
    const rule = rules.struct!;
    const r0 = rules.offset;
    expect(buf.readUInt32LE(r0 + off(rule, "class_id"))).toBe(1);
    expect(buf.readBigUInt64LE(r0 + off(rule, "baseline_bytes"))).toBe(512n << 20n);
    expect(buf.readBigUInt64LE(r0 + rule.size + off(rule, "baseline_bytes"))).toBe((1n << 64n) - 1n);
    expect(buf.readUInt8(r0 + off(rule, "burst_mode"))).toBe(1);
    const patterns = l.fields.find((f) => f.name === "patterns")!;
    const text = patterns.offset + off(patterns.struct!, "text");
    expect(buf.subarray(text, text + 3).toString()).toBe("cc*");
  });

  it("runs acgd in the highest-priority class, the heaviest of that level, whatever the default rule's class", () => {
    const ir = sampleIR();
    expect(daemonClassId(ir)).toBe(0);
    const buf = encodePolicy(ir);
    const hdr = layoutOf(policyStruct).fields.find((f) => f.name === "hdr")!.struct!;
    expect(buf.readUInt32LE(hdr.fields.find((f) => f.name === "daemon_class")!.offset)).toBe(0);
    // Two classes at the top level: the heavier wins, wherever it is declared.
    const classes = [
      { id: 0, name: "build", priority: 1 as const, cpuWeight: 100, sliceNs: 20_000_000 },
      { id: 1, name: "ui", priority: 0 as const, cpuWeight: 200, sliceNs: 3_000_000 },
      { id: 2, name: "agents", priority: 0 as const, cpuWeight: 400, sliceNs: 3_000_000 },
    ];
    expect(daemonClassId(sampleIR({ classes }))).toBe(2);
  });

  it("encodes cgroup entries with ACG_NONE for the rule's class", () => {
    const v = encodeCgroupValue({ ruleId: 1, agentId: 7 });
    expect(v.length).toBe(32); // + rank, hold domains (memory holds)
    expect(v.readUInt32LE(0)).toBe(1);
    expect(v.readUInt32LE(4)).toBe(7);
    expect(v.readUInt32LE(8)).toBe(0xffffffff);
  });
});
