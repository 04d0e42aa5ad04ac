// Matcher semantics used by the checker's reachability analysis.

import { describe, expect, it } from "vitest";
import { globMatch } from "../../compiler/matcher-logic.js";
import { loadPolicyText } from "../../compiler/frontend.js";

function warnings(rules: string): string[] {
  const r = loadPolicyText(
    "t.acg",
    `version 1\npolicy p {\n  host { memory = 8GiB }\n  class c {}\n${rules}\n  tool default { class c }\n}\n`,
  );
  expect(r.diagnostics.filter((d) => d.severity === "error")).toEqual([]);
  return r.diagnostics.filter((d) => d.severity !== "note").map((d) => `${d.code} ${d.message}`);
}

describe("globs", () => {
  it.each([
    ["py*", "pytest", true],
    ["py*", "xpy", false],
    ["?it", "git", true],
    ["?it", "gitt", false],
    ["py[23]", "py3", true],
    ["py[!23]", "py3", false],
    ["/usr/*/git", "/usr/local/bin/git", true],
    ["a.b", "axb", false],
    ["(x)", "(x)", true],
  ])("%s on %s is %s", (g, s, want) => {
    expect(globMatch(g, s)).toBe(want);
  });
});

describe("reachability", () => {
  it("a narrower rule after a broader one is shadowed", () => {
    expect(warnings(`  tool any_py { match exe matches "py*" }\n  tool pytest { match exe == "pytest" }`)).toEqual([
      "W0401 tool 'pytest' can never match: every call it matches is matched first by 'any_py'",
    ]);
  });

  it("a broader rule after a narrower one is fine", () => {
    expect(warnings(`  tool pytest { match exe == "pytest" }\n  tool any_py { match exe matches "py*" }`)).toEqual([]);
  });

  it("a rule is shadowed only if every alternative is", () => {
    expect(warnings(`  tool git { match exe == "git" }\n  tool vcs { match exe == "git" or exe == "hg" }`)).toEqual([]);
    expect(
      warnings(`  tool git { match exe == "git" }\n  tool hg { match exe == "hg" }\n  tool vcs { match exe == "git" or exe == "hg" }`),
    ).toEqual(["W0401 tool 'vcs' can never match: every call it matches is matched first by 'git'"]);
  });

  it("different subjects never shadow each other", () => {
    expect(warnings(`  tool a { match tool == "Bash" }\n  tool b { match exe == "bash" }`)).toEqual([]);
  });

  it("negations are handled", () => {
    expect(warnings(`  tool a { match not exe == "git" }\n  tool b { match exe == "hg" }`)).toEqual([
      "W0401 tool 'b' can never match: every call it matches is matched first by 'a'",
    ]);
    expect(warnings(`  tool a { match exe == "git" and not exe == "git" }`)).toEqual([
      "W0402 tool 'a' can never match: its conditions contradict each other",
    ]);
  });

  it("hints can carry several values, so two different hints do not contradict", () => {
    expect(warnings(`  tool a { match hint == "tests" and hint == "slow" }`)).toEqual([]);
  });
});
