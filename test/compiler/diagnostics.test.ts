// Exact rendered diagnostics for bad inputs: each test/compiler/diagnostics/NAME.acg
// is checked and its stderr and exit status compared with NAME.expected.
// To review a change in wording: regenerate with scripts/update-diagnostics.sh and read the diff.

import { describe, expect, it } from "vitest";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { tmpdir } from "node:os";
import { CODES } from "../../compiler/diagnostic-messages.js";
import { run } from "./cli-harness.js";

const dir = "test/compiler/diagnostics";

describe("rendered diagnostics", () => {
  const cases = readdirSync(dir)
    .filter((f) => f.endsWith(".acg"))
    .sort();
  it("covers at least 30 distinct bad inputs", () => {
    expect(cases.length).toBeGreaterThanOrEqual(30);
  });
  for (const file of cases) {
    it(file, async () => {
      const expected = readFileSync(join(dir, file.replace(/\.acg$/, ".expected")), "utf8");
      const { code, err } = await run(["check", join(dir, file)]);
      expect(`${err}exit=${code}\n`).toBe(expected);
    });
  }
});

describe("inputs that are not policies", () => {
  const tmp = mkdtempSync(join(tmpdir(), "acgc-bad-"));

  it("a missing file", async () => {
    const p = join(tmp, "nope.acg");
    const r = await run(["check", p]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(`${p}: error[E0001]: no such file`);
  });

  it("a directory", async () => {
    const d = join(tmp, "policies");
    mkdirSync(d);
    const r = await run(["check", d]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      `${d}: error[E0001]: is a directory, not a policy file\n  help: to check every policy in it: acgc check ${d}/*.acg`,
    );
  });

  it("a 10 MB file", async () => {
    const p = join(tmp, "huge.acg");
    writeFileSync(p, "version 1\n" + "// padding padding padding\n".repeat(400_000));
    const r = await run(["check", p]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("error[E0003]: file is too large (10.3 MiB; policies are at most 1 MiB)");
  });

  it("deep nesting is one located error, not a stack overflow", async () => {
    const p = join(tmp, "deep.acg");
    writeFileSync(p, `version 1\npolicy p { tool t { match ${"(".repeat(5000)}exe == "x"${")".repeat(5000)} } }\n`);
    const r = await run(["check", p]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/deep\.acg:2:\d+: error\[E0102\]: expressions and lists nest deeper than 64 levels/);
    expect(r.err).not.toMatch(/at .*\.js:\d+/);
  });

  it("deeply nested lists too", async () => {
    const p = join(tmp, "deeplist.acg");
    writeFileSync(p, `version 1\npolicy p { host { memory = ${"[".repeat(3000)}${"]".repeat(3000)} } }\n`);
    const r = await run(["check", p]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("error[E0102]");
  });

  it("random binary data", async () => {
    const p = join(tmp, "random.bin");
    const bytes = Buffer.alloc(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) % 256;
    writeFileSync(p, bytes);
    const r = await run(["check", p]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/random\.bin:1:\d+: error\[E000[24]\]/);
  });
});

describe("machine-readable output and usage", () => {
  it("--format json lists every diagnostic with its location", async () => {
    const r = await run(["check", "--format", "json", join(dir, "several-errors.acg")]);
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out) as {
      diagnostics: { code: string; line: number; col: number; severity: string }[];
      errors: number;
      warnings: number;
    };
    expect(j.errors).toBe(5);
    expect(j.warnings).toBe(1);
    expect(j.diagnostics[0]).toMatchObject({ code: "E0206", line: 5, col: 24, severity: "error", help: "use one of high, normal, low" });
  });

  it("--format json carries the related location the text shows as note:", async () => {
    const r = await run(["check", "--format", "json", join(dir, "shadowed-rule.acg")]);
    const j = JSON.parse(r.out) as { diagnostics: { code: string; related?: unknown[] }[] };
    const shadowed = j.diagnostics.find((d) => d.related);
    expect(shadowed?.related).toEqual([
      {
        message: expect.stringMatching(/^'\w+' is here$/),
        line: expect.any(Number),
        col: expect.any(Number),
        endLine: expect.any(Number),
        endCol: expect.any(Number),
      },
    ]);
    const text = await run(["check", join(dir, "shadowed-rule.acg")]);
    const rel = shadowed!.related![0] as { message: string; line: number; col: number };
    expect(text.err).toContain(`note: ${rel.message} (${join(dir, "shadowed-rule.acg")}:${rel.line}:${rel.col})`);
  });

  it("--format sarif is a SARIF 2.1.0 log: one result per diagnostic, with its region, level and related location", async () => {
    const files = [join(dir, "several-errors.acg"), join(dir, "shadowed-rule.acg"), "policies/minimal.acg"];
    const r = await run(["check", "--format", "sarif", ...files]);
    expect(r.code).toBe(1);
    const json = JSON.parse((await run(["check", "--format", "json", ...files])).out) as {
      diagnostics: { file: string; code: string; severity: string; line: number; col: number; endLine: number; endCol: number }[];
    };
    const log = JSON.parse(r.out);
    expect(log.version).toBe("2.1.0");
    expect(log.runs).toHaveLength(1);
    const run0 = log.runs[0];
    expect(run0.tool.driver.name).toBe("acgc");
    expect(run0.tool.driver.rules.map((x: { id: string }) => x.id)).toEqual([...new Set(json.diagnostics.map((d) => d.code))].sort());
    // Each rule carries its code's line of docs/diagnostics.md, for the annotation's title.
    const docs = new Map(CODES.map((c) => [c.code as string, c.doc]));
    for (const rule of run0.tool.driver.rules as { id: string; shortDescription: { text: string } }[])
      expect(rule.shortDescription.text).toBe(docs.get(rule.id));
    expect(run0.results).toHaveLength(json.diagnostics.length);
    run0.results.forEach(
      (
        res: {
          ruleId: string;
          level: string;
          locations: { physicalLocation: { artifactLocation: { uri: string }; region: Record<string, number> } }[];
        },
        i: number,
      ) => {
        const d = json.diagnostics[i]!;
        expect(res.ruleId).toBe(d.code);
        expect(res.level).toBe(d.severity);
        expect(res.locations[0]!.physicalLocation.artifactLocation.uri).toBe(d.file);
        expect(res.locations[0]!.physicalLocation.region).toEqual({
          startLine: d.line,
          startColumn: d.col,
          endLine: d.endLine,
          endColumn: d.endCol,
        });
      },
    );
    expect(run0.results.filter((x: { relatedLocations?: unknown }) => x.relatedLocations).length).toBeGreaterThan(0);
  });

  it("--format json carries the related location (the rule that matches first)", async () => {
    const r = await run(["check", "--format", "json", join(dir, "always-true-shadows.acg")]);
    const j = JSON.parse(r.out) as { diagnostics: { code: string; line: number; related?: unknown[] }[] };
    expect(j.diagnostics[0]).toMatchObject({
      code: "W0401",
      line: 6,
      related: [{ message: "'any' is here", line: 5, col: 8, endLine: 5, endCol: 11 }],
    });
  });

  it("errors of several files are all reported, status 1", async () => {
    const r = await run(["check", join(dir, "bad-priority.acg"), "policies/minimal.acg", join(dir, "negative-size.acg")]);
    expect(r.code).toBe(1);
    expect(r.err).toContain("E0206");
    expect(r.err).toContain("E0205");
    expect(r.err).toContain("3 files checked: 2 errors, 0 warnings");
  });

  it("warnings alone do not fail the check", async () => {
    const r = await run(["check", join(dir, "shadowed-rule.acg")]);
    expect(r.code).toBe(0);
  });

  it.each([
    [["frobnicate"], "unknown command 'frobnicate'"],
    [["check"], "check needs at least one policy file"],
    [["check", "--format", "xml", "a.acg"], "--format takes `text`, `json` or `sarif`"],
    [["check", "--bogus", "a.acg"], "unknown option '--bogus' for check"],
    [["fmt"], "fmt needs at least one policy file"],
    [[], "Usage:"],
  ])("usage error %j exits 2", async (argv, message) => {
    const r = await run(argv);
    expect(r.code).toBe(2);
    expect(r.err + r.out).toContain(message);
  });

  it("--help and --version exit 0", async () => {
    expect((await run(["--help"])).code).toBe(0);
    const v = await run(["--version"]);
    expect(v.code).toBe(0);
    expect(v.out).toMatch(/^acgc \d+\.\d+\.\d+\n$/);
  });
});
