import { describe, expect, it } from "vitest";
import { matches, matchRule } from "../../runtime/matcher.js";
import { policyOf, TEST_POLICY } from "./helpers.js";

const policy = policyOf(TEST_POLICY);
const rule = (facts: Parameters<typeof matchRule>[1]) => matchRule(policy, facts).name;

describe("user-space matcher evaluation", () => {
  it("matches exe by basename of the path, or of argv[0] without a path", () => {
    expect(rule({ hints: [], argv: ["pytest", "-x"], path: "/usr/local/bin/pytest" })).toBe("tests");
    expect(rule({ hints: [], argv: ["git", "status"] })).toBe("vcs");
    expect(rule({ hints: [], argv: ["gitx"] })).toBe("default");
  });

  it("matches argv joined by single spaces with regexes", () => {
    expect(rule({ hints: [], argv: ["python3", "-m", "pytest", "tests/"], path: "/usr/bin/python3" })).toBe("tests");
    expect(rule({ hints: [], argv: ["python3", "-m", "pip"], path: "/usr/bin/python3" })).toBe("default");
  });

  it("matches `kind=` and bare hints, not intent hints", () => {
    expect(rule({ hints: ["tests"], argv: ["make"] })).toBe("tests");
    expect(rule({ hints: ["memory=tests"], argv: ["make"] })).toBe("default");
  });

  it("matches the agent's tenant, and the kernel leaves tenant predicates to user space", () => {
    const tenants = policyOf(`version 1
policy t {
  host { memory = 8GiB }
  class batch { priority = low }
  class interactive { priority = high }
  tenant paid { rank = high }
  tenant free { rank = low }
  tool free_calls { match tenant == "free" and exe == "pip"; class batch }
  tool default { class interactive }
}
`);
    expect(matchRule(tenants, { hints: [], argv: ["pip", "install"], tenant: "free" }).name).toBe("free_calls");
    expect(matchRule(tenants, { hints: [], argv: ["pip", "install"], tenant: "paid" }).name).toBe("default");
    expect(matchRule(tenants, { hints: [], argv: ["pip", "install"] }).name).toBe("default");
    expect(tenants.rules[0]!.kernelDecidable).toBe(false);
  });

  it("matches tool names with `in`", () => {
    expect(rule({ tool: "Read", hints: [], argv: ["cat", "x"] })).toBe("vcs");
    expect(rule({ tool: "Write", hints: [], argv: ["cat", "x"] })).toBe("default");
  });

  it("evaluates path globs with `?` and `not`", () => {
    expect(rule({ hints: [], argv: ["ls", "-l"], path: "/usr/bin/ls" })).toBe("lister");
    expect(rule({ hints: [], argv: ["ls", "--recursive"], path: "/usr/bin/ls" })).toBe("default");
    expect(rule({ hints: [], argv: ["lsblk"], path: "/usr/bin/lsblk" })).toBe("default");
  });

  it("treats a missing subject as matching nothing, and a negated one as true", () => {
    expect(matches({ kind: "pred", subject: "tool", op: "eq", value: "" }, { hints: [], argv: ["x"] })).toBe(false);
    expect(matches({ kind: "not", item: { kind: "pred", subject: "tool", op: "eq", value: "Bash" } }, { hints: [], argv: ["x"] })).toBe(
      true,
    );
  });

  it("glob classes and case-insensitive regexes", () => {
    const facts = { hints: ["Kind-B"], argv: ["x"] };
    expect(matches({ kind: "pred", subject: "hint", op: "glob", pattern: "Kind-[AB]" }, facts)).toBe(true);
    expect(matches({ kind: "pred", subject: "hint", op: "glob", pattern: "Kind-[!AB]" }, facts)).toBe(false);
    expect(matches({ kind: "pred", subject: "hint", op: "regex", source: "^kind", flags: "i" }, facts)).toBe(true);
    expect(matches({ kind: "pred", subject: "hint", op: "regex", source: "^kind", flags: "" }, facts)).toBe(false);
  });
});
