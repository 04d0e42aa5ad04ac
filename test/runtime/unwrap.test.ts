import { describe, expect, it } from "vitest";
import { commandsOf, shellScript, simpleCommands } from "../../runtime/unwrap.js";
import { matchRule } from "../../runtime/matcher.js";
import { policyOf, TEST_POLICY } from "./helpers.js";

const policy = policyOf(TEST_POLICY);
const rule = (argv: string[], path?: string) => matchRule(policy, { hints: [], argv, ...(path && { path }) }).name;

describe("commandsOf: what a command line runs", () => {
  it("lists the command itself first, then what shells run", () => {
    expect(commandsOf(["bash", "-c", "git status"])).toEqual([
      ["bash", "-c", "git status"],
      ["git", "status"],
    ]);
    expect(commandsOf(["/bin/sh", "-lc", "cd /repo && pytest -x"]).slice(1)).toEqual([
      ["cd", "/repo"],
      ["pytest", "-x"],
    ]);
    expect(commandsOf(["bash", "-e", "-o", "pipefail", "-c", "make | tee log"]).slice(1)).toEqual([["make"], ["tee", "log"]]);
    expect(commandsOf(["bash", "script.sh"])).toEqual([["bash", "script.sh"]]);
    expect(commandsOf(["zsh"])).toEqual([["zsh"]]);
  });

  it("unwraps env, timeout, nice, xargs, stdbuf, nohup, setsid, sudo, recursively", () => {
    expect(commandsOf(["env", "-i", "A=1", "B=2", "pytest"]).at(-1)).toEqual(["pytest"]);
    expect(commandsOf(["env", "-u", "HOME", "--chdir", "/x", "git", "log"]).at(-1)).toEqual(["git", "log"]);
    expect(commandsOf(["timeout", "-s", "KILL", "-k", "5", "60", "pytest", "-q"]).at(-1)).toEqual(["pytest", "-q"]);
    expect(commandsOf(["timeout", "--signal=TERM", "30s", "make"]).at(-1)).toEqual(["make"]);
    expect(commandsOf(["nice", "-n", "10", "make", "-j4"]).at(-1)).toEqual(["make", "-j4"]);
    expect(commandsOf(["nice", "-5", "make"]).at(-1)).toEqual(["make"]);
    expect(commandsOf(["xargs", "-n1", "-P", "4", "grep", "-l", "foo"]).at(-1)).toEqual(["grep", "-l", "foo"]);
    expect(commandsOf(["stdbuf", "-oL", "-e", "0", "tox"]).at(-1)).toEqual(["tox"]);
    expect(commandsOf(["nohup", "setsid", "-f", "pytest"]).map((c) => c[0])).toEqual(["nohup", "setsid", "pytest"]);
    expect(commandsOf(["sudo", "-u", "bob", "-E", "npm", "test"]).at(-1)).toEqual(["npm", "test"]);
    expect(commandsOf(["timeout", "600", "bash", "-c", "env CI=1 nice pytest -x"]).map((c) => c[0])).toEqual([
      "timeout",
      "bash",
      "env",
      "nice",
      "pytest",
    ]);
  });

  it("finds no command where a wrapper runs none", () => {
    expect(commandsOf(["env"])).toEqual([["env"]]);
    expect(commandsOf(["env", "A=1"])).toEqual([["env", "A=1"]]);
    expect(commandsOf(["timeout", "5"])).toEqual([["timeout", "5"]]);
    expect(commandsOf(["command", "-v", "git"])).toEqual([["command", "-v", "git"]]);
    expect(commandsOf(["ionice", "-p", "42"])).toEqual([["ionice", "-p", "42"]]);
  });

  it("stops at a nesting depth (no unbounded recursion on hostile input)", () => {
    const deep = Array.from({ length: 50 }, () => "env").concat("pytest");
    expect(commandsOf(deep).length).toBeLessThanOrEqual(9);
  });
});

describe("shell scripts", () => {
  it("finds -c in combined flags, and none for a script file", () => {
    expect(shellScript(["bash", "-lc", "x"])).toBe("x");
    expect(shellScript(["bash", "-c"])).toBeNull();
    expect(shellScript(["bash", "run.sh", "-c", "x"])).toBeNull();
  });

  it("splits at operators, honours quotes, skips assignments, redirections and reserved words", () => {
    expect(simpleCommands(`FOO=1 BAR="a b" pytest -k 'a and b' > out.txt 2>&1 || echo "failed; see log"`)).toEqual([
      ["pytest", "-k", "a and b"],
      ["echo", "failed; see log"],
    ]);
    expect(simpleCommands("if [ -f x ]; then make; else cargo build; fi")).toEqual([["[", "-f", "x", "]"], ["make"], ["cargo", "build"]]);
    expect(simpleCommands("for f in a b; do git add $f; done")).toEqual([["git", "add", "$f"]]);
    expect(simpleCommands("(cd sub && npm test) | tail -5 # a comment; rm -rf /")).toEqual([
      ["cd", "sub"],
      ["npm", "test"],
      ["tail", "-5"],
    ]);
    expect(simpleCommands("echo a\\ b 'c'\"d\" && make\\\n  all")).toEqual([
      ["echo", "a b", "cd"],
      ["make", "all"],
    ]);
    expect(simpleCommands("cat <<< word; sort <in >>out")).toEqual([["cat"], ["sort"]]);
    expect(simpleCommands("")).toEqual([]);
    expect(simpleCommands("'unterminated")).toEqual([["unterminated"]]);
  });
});

describe("matchRule on wrapped commands", () => {
  it("matches the rule of the command a shell or wrapper runs", () => {
    expect(rule(["bash", "-c", "git status"], "/usr/bin/bash")).toBe("vcs");
    expect(rule(["bash", "-c", "cd /repo && pytest -x"], "/usr/bin/bash")).toBe("tests");
    expect(rule(["timeout", "600", "pytest"], "/usr/bin/timeout")).toBe("tests");
    expect(rule(["env", "CI=1", "/usr/bin/git", "fetch"])).toBe("vcs");
    expect(rule(["xargs", "-n1", "tox"])).toBe("tests");
  });

  it("keeps the default rule for shells that run nothing a rule names", () => {
    expect(rule(["bash", "-c", "ls -la && cat README"])).toBe("default");
    expect(rule(["bash", "-c", "echo git status"])).toBe("default");
  });

  it("takes the first rule in policy order that any of the commands matches", () => {
    // tests comes before vcs in TEST_POLICY.
    expect(rule(["bash", "-c", "git stash && pytest"])).toBe("tests");
  });
});
