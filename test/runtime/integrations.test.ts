// The ways in: coding-agent hooks (against recorded payloads of each agent's
// documented hook format), `acg agent register`, the TypeScript and Python
// clients, systemd readiness, `acgd stop`, and every command's --help and
// --version. acgd runs for real on the host's cgroup v2 tree.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { AcgdError, AgentCgroupClient, ProtocolError } from "../../clients/typescript/index.js";
import { answerHook } from "../../runtime/agent-hooks.js";
import { commandsOf, simpleCommands } from "../../runtime/unwrap.js";
import { cgroupDirOf, hostCgroupRoot, removeCgroupTree, REPO, startAcgd, TEST_POLICY, type TestAcgd } from "./helpers.js";
import { beforeAllRequiring, CGROUP2 } from "../require-feature.js";
import { waitUntil } from "../wait.js";

const root = hostCgroupRoot("acg-integrations-test");
const tmp = mkdtempSync(join(tmpdir(), "acg-integrations-"));
const policy = join(tmp, "test.acg");
const socket = join(tmp, "acgd.sock");
const bin = join(tmp, "bin");
const fixture = (name: string) => readFileSync(join(REPO, "test/fixtures/hooks", name), "utf8");
writeFileSync(policy, TEST_POLICY);
mkdirSync(bin);
// `acg` on PATH as setup links it: the native launcher.
symlinkSync(join(REPO, "native/build/acg-run"), join(bin, "acg"));
const env = { ...process.env, ACG_SOCKET: socket, PATH: `${bin}:${process.env["PATH"]}` };

let acgd: TestAcgd;
beforeAllRequiring(
  CGROUP2,
  async () => {
    acgd = await startAcgd(["--policy", policy, "--socket", socket, "--cgroup-root", root]);
  },
  20_000,
);
afterAll(async () => {
  // Not started where the machine lacks the feature: each test failed on it.
  if (acgd?.proc.exitCode === null) await acgd.stop("SIGTERM");
  removeCgroupTree(root);
  rmSync(tmp, { recursive: true, force: true });
});

describe("Claude Code hooks (recorded payloads)", () => {
  it("rewrites a Bash PreToolUse into acg run with the session's agent and the tool_use_id as label, and the command runs as written", async () => {
    const a = answerHook("claude", fixture("claude-pretooluse-bash.json"));
    expect(a.exit).toBe(0);
    const out = JSON.parse(a.stdout);
    expect(out.hookSpecificOutput).toMatchObject({
      hookEventName: "PreToolUse",
      updatedInput: { description: "Run the quick check", timeout: 120000 },
    });
    expect(out.hookSpecificOutput.permissionDecision).toBeUndefined();
    const wrapped: string = out.hookSpecificOutput.updatedInput.command;
    expect(
      wrapped.startsWith(
        "acg run --agent claude-3f9d2c1e-8a4b-4c7e-9f10-2b6d5e7a1c44 --tool Bash --label " +
          "claude:toolu_01AbCdEfGhIjKlMnOpQrStUv --quiet -- bash -c ",
      ),
    ).toBe(true);
    // What Claude Code then runs: the rewritten command, in a shell, in the session's cwd.
    const cwd = mkdtempSync(join(tmp, "repo-"));
    mkdirSync(join(cwd, "tests"));
    const r = spawnSync("bash", ["-c", wrapped], { cwd, env, encoding: "utf8" });
    expect({ code: r.status, out: r.stdout, err: r.stderr }).toEqual({ code: 0, out: "it's ok\n", err: "" });
    expect(readFileSync(join(cwd, "tests/out.txt"), "utf8")).toBe("it's ok\n");
    const started =
      /start call-\d+-\d+ \(claude:toolu_01AbCdEfGhIjKlMnOpQrStUv\) agent=default\/claude-3f9d2c1e-8a4b-4c7e-9f10-2b6d5e7a1c44 rule=default/;
    expect(await waitUntil(() => started.test(acgd.log()), 5000)).toBe(true);
  });

  it("passes other tools and events through, and does not wrap twice", () => {
    expect(answerHook("claude", fixture("claude-pretooluse-edit.json"))).toEqual({ stdout: "", stderr: "", exit: 0 });
    expect(answerHook("claude", fixture("claude-posttooluse-bash.json"))).toEqual({ stdout: "", stderr: "", exit: 0 });
    const once = JSON.parse(answerHook("claude", fixture("claude-pretooluse-bash.json")).stdout).hookSpecificOutput.updatedInput.command;
    const payload = JSON.parse(fixture("claude-pretooluse-bash.json"));
    payload.tool_input.command = once;
    expect(answerHook("claude", JSON.stringify(payload)).stdout).toBe("");
  });

  it("uses $ACG_AGENT and $ACG_TENANT when set; says what is wrong with a bad payload without blocking the tool", () => {
    const out = JSON.parse(answerHook("claude", fixture("claude-pretooluse-bash.json"), { agent: "alice", tenant: "strict" }).stdout);
    expect(out.hookSpecificOutput.updatedInput.command).toMatch(/^acg run --agent alice --tenant strict --tool Bash /);
    expect(answerHook("claude", "{not json")).toMatchObject({
      stdout: "",
      exit: 1,
      stderr: expect.stringMatching(/^acg hook claude: the payload on stdin is not JSON/),
    });
    expect(
      answerHook("claude", JSON.stringify({ hook_event_name: "PreToolUse", tool_name: "Bash", tool_input: { command: "ls" } })),
    ).toMatchObject({ exit: 1, stderr: expect.stringContaining("no session_id in the payload and no $ACG_AGENT") });
  });

  it("is what `acg hook claude` prints for the payload on stdin", () => {
    const r = spawnSync(process.execPath, [join(REPO, "bin/acg.js"), "hook", "claude"], {
      input: fixture("claude-pretooluse-bash.json"),
      encoding: "utf8",
      env: { ...process.env, ACG_AGENT: "", ACG_TENANT: "" },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(answerHook("claude", fixture("claude-pretooluse-bash.json")).stdout);
  });
});

describe("Claude Code shell prefix", () => {
  const prefix = join(REPO, "integrations/claude-code/acg-shell-prefix");
  it("runs the command words, or one shell line, as a Bash tool call of $ACG_AGENT; hook commands as they are", () => {
    const words = spawnSync(prefix, ["bash", "-c", "grep ^0:: /proc/self/cgroup"], {
      env: { ...env, ACG_AGENT: "pfx1" },
      encoding: "utf8",
    });
    expect({ code: words.status, err: words.stderr }).toEqual({ code: 0, err: "" });
    expect(words.stdout).toMatch(new RegExp(`^0::/acg-integrations-test-${process.pid}/default/pfx1/call-\\d+-\\d+\\n$`));
    const line = spawnSync(prefix, ["echo one && grep ^0:: /proc/self/cgroup"], { env: { ...env, ACG_AGENT: "pfx1" }, encoding: "utf8" });
    expect(line.stdout).toMatch(/^one\n0::.*\/default\/pfx1\/call-\d+-\d+\n$/);
    const hook = spawnSync(prefix, ["sh", "-c", "echo acg hook claude; grep ^0:: /proc/self/cgroup"], {
      env: { ...env, ACG_AGENT: "pfx1" },
      encoding: "utf8",
    });
    expect(hook.stdout).not.toContain("/pfx1/");
  });
});

describe("Gemini CLI hooks (recorded payloads)", () => {
  it("rewrites run_shell_command's command through hookSpecificOutput.tool_input", () => {
    const a = answerHook("gemini", fixture("gemini-beforetool-shell.json"));
    const out = JSON.parse(a.stdout);
    const wrapped: string = out.hookSpecificOutput.tool_input.command;
    expect(wrapped).toBe(
      "acg run --agent gemini-b7c1e0f2-5d4a-4e3b-8c2d-1a9f0e6d7c35 --tool run_shell_command " +
        "--label gemini:2026-12-02T19:20:31.512Z --quiet -- bash -c 'pytest -q tests/test_api.py'",
    );
    // The policy sees the command the shell runs.
    const [cmd] = simpleCommands(wrapped);
    expect(commandsOf(cmd!.slice(cmd!.indexOf("--") + 1)).at(-1)).toEqual(["pytest", "-q", "tests/test_api.py"]);
    expect(answerHook("gemini", fixture("gemini-beforetool-readfile.json")).stdout).toBe("");
  });
});

describe("Codex CLI hooks (payloads in Codex's documented format)", () => {
  it("with --approve rewrites Bash's command, answered with permissionDecision allow (Codex applies updatedInput only so)", () => {
    const out = JSON.parse(answerHook("codex", fixture("codex-pretooluse-bash.json"), { approve: true }).stdout);
    expect(out.hookSpecificOutput.permissionDecision).toBe("allow");
    expect(out.hookSpecificOutput.updatedInput.command).toBe(
      "acg run --agent codex-019a7c2e-4b1d-7e80-9a3f-5c6d7e8f9a0b --tool Bash --label " +
        "codex:call_Xk2Lm9Pq4Rs7Tv1Wz3Yb5Cd --quiet -- bash -c 'npm test -- --run'",
    );
    // apply_patch carries a patch in `command`: never a shell command to wrap.
    expect(answerHook("codex", fixture("codex-pretooluse-apply-patch.json"), { approve: true }).stdout).toBe("");
  });

  it("without --approve grants nothing: the command is left as it is, with a note; --approve is refused for the other agents", () => {
    expect(answerHook("codex", fixture("codex-pretooluse-bash.json"))).toMatchObject({
      stdout: "",
      exit: 0,
      stderr: expect.stringContaining("add --approve"),
    });
    const r = spawnSync(process.execPath, [join(REPO, "bin/acg.js"), "hook", "codex", "--approve"], {
      input: fixture("codex-pretooluse-bash.json"),
      encoding: "utf8",
      env: { ...process.env, ACG_AGENT: "", ACG_TENANT: "" },
    });
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(answerHook("codex", fixture("codex-pretooluse-bash.json"), { approve: true }).stdout);
    const bad = spawnSync(process.execPath, [join(REPO, "bin/acg.js"), "hook", "claude", "--approve"], { input: "{}", encoding: "utf8" });
    expect({ status: bad.status, err: bad.stderr }).toEqual({ status: 2, err: expect.stringContaining("--approve is for codex only") });
  });
});

describe("acg agent register", () => {
  it("moves the agent's process into its agent's own cgroup; later calls from it are the agent's without --agent", async () => {
    const agentProc = spawn("sh", ["-c", "read line; acg run --quiet -- sh -c 'grep ^0:: /proc/self/cgroup'"], {
      env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    let out = "";
    agentProc.stdout.on("data", (d) => (out += d));
    const r = spawnSync(
      process.execPath,
      [join(REPO, "bin/acg.js"), "agent", "register", "--agent", "reg1", "--pid", String(agentProc.pid)],
      { env, encoding: "utf8" },
    );
    expect(r.stderr).toMatch(/^acg: pid \d+ registered as agent default\/reg1 \(.*\/default\/reg1\/agent\)\n$/);
    expect(r.status).toBe(0);
    expect(cgroupDirOf(agentProc.pid!)).toBe(join(root, "default", "reg1", "agent"));
    // Steered for the kernel's OOM killer by its agent's rank (normal: behind the calls of lower classes).
    expect(readFileSync(`/proc/${agentProc.pid}/oom_score_adj`, "utf8").trim()).toBe("450");
    agentProc.stdin.end("go\n");
    expect(await new Promise((res) => agentProc.on("close", res))).toBe(0);
    expect(out).toMatch(new RegExp(`^0::/acg-integrations-test-${process.pid}/default/reg1/call-\\d+-\\d+\\n$`));
  });

  it("refuses what it cannot do, with acgd's reason", async () => {
    const bad = spawnSync(process.execPath, [join(REPO, "bin/acg.js"), "agent", "register", "--agent", "reg2", "--pid", "999999999"], {
      env,
      encoding: "utf8",
    });
    expect({ code: bad.status, err: bad.stderr }).toEqual({ code: 1, err: "acg agent register: no process 999999999\n" });
    expect(
      spawnSync(process.execPath, [join(REPO, "bin/acg.js"), "agent", "register"], { env: { ...env, ACG_AGENT: "" }, encoding: "utf8" }),
    ).toMatchObject({ status: 2, stderr: "acg agent register: which agent? pass --agent ID (or set ACG_AGENT)\n" });
    const c = await AgentCgroupClient.connect(socket);
    try {
      const p = spawn("sleep", ["30"]);
      await c.registerAgent("reg3", { pid: p.pid! });
      await expect(c.registerAgent("reg4", { pid: p.pid! })).rejects.toMatchObject({
        code: "refused",
        message: `process ${p.pid} already belongs to agent 'default/reg3': a process lives in one agent`,
      });
      p.kill("SIGKILL");
    } finally {
      c.close();
    }
  });
});

describe("clients", () => {
  it("TypeScript: a call's lifecycle with checked answers; acgd's errors and protocol errors apart", async () => {
    const c = await AgentCgroupClient.connect(socket);
    try {
      const call = await c.startCall({ agent: "ts1", argv: ["git", "status"], label: "ts:1" });
      expect(call).toMatchObject({ rule: "vcs", class: "interactive", label: "ts:1" });
      const report = await c.endCall(call.call);
      expect(report).toMatchObject({ id: call.call, rule: "vcs", oomKilled: false });
      await expect(c.endCall("call-none")).rejects.toBeInstanceOf(AcgdError);
      await expect(c.startCall({ argv: [] })).rejects.toThrow("argv must be a non-empty array of strings");
      // A shape the client does not know: end_call's result checked as a call view fails loudly.
      await expect(c.request("status").then(() => c.declareIntent("call-none", ["memory=1MiB"]))).rejects.toMatchObject({
        code: "not_found",
      });
    } finally {
      c.close();
    }
    await expect(AgentCgroupClient.connect(join(tmp, "none.sock"))).rejects.toBeInstanceOf(ProtocolError);
  });

  it("Python: the unittest suite against this acgd", () => {
    const r = spawnSync("python3", ["-m", "unittest", "-v", "test_client"], { cwd: join(REPO, "clients/python"), env, encoding: "utf8" });
    expect(r.stderr).toMatch(/Ran 3 tests/);
    expect(r.stderr).not.toMatch(/skipped/);
    expect(r.status).toBe(0);
  });
});

describe("acgd under systemd and its stop", () => {
  it("sends READY=1 to $NOTIFY_SOCKET once it listens, STOPPING=1 when it stops; `acgd stop` stops it", async () => {
    const notify = join(tmp, "notify.sock");
    const got = join(tmp, "notify.txt");
    // A datagram receiver, as systemd is for a Type=notify unit.
    const rx = spawn(
      "python3",
      [
        "-c",
        [
          "import socket,sys",
          "s=socket.socket(socket.AF_UNIX,socket.SOCK_DGRAM)",
          `s.bind(${JSON.stringify(notify)})`,
          'print("bound",flush=True)',
          `with open(${JSON.stringify(got)},"w") as f:`,
          "  for _ in range(2):",
          '    f.write(s.recv(4096).decode()+"--\\n"); f.flush()',
          "",
        ].join("\n"),
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise((r) => rx.stdout.once("data", r));
    const sock2 = join(tmp, "acgd2.sock");
    const d = spawn(process.execPath, [join(REPO, "bin/acgd.js"), "--policy", policy, "--cgroup-root", root], {
      env: { ...process.env, NOTIFY_SOCKET: notify, ACG_SOCKET: sock2 },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let log = "";
    d.stderr.on("data", (c) => (log += c));
    expect(await waitUntil(() => existsSync(got) && readFileSync(got, "utf8").includes("READY=1"), 15_000)).toBe(true);
    expect(log).toContain(`listening on ${sock2}`); // $ACG_SOCKET honoured
    expect(readFileSync(got, "utf8")).toMatch(
      new RegExp(
        `^READY=1\\nSTATUS=policy runtime_test; listening on ${sock2.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\nMAINPID=${d.pid}\\n--\\n`,
      ),
    );
    const stop = spawnSync(process.execPath, [join(REPO, "bin/acgd.js"), "stop", "--keep-scheduler"], {
      env: { ...process.env, ACG_SOCKET: sock2 },
      encoding: "utf8",
    });
    expect({ code: stop.status, err: stop.stderr }).toEqual({ code: 0, err: `acgd stop: acgd (pid ${d.pid}) stopped\n` });
    expect(await waitUntil(() => readFileSync(got, "utf8").includes("STOPPING=1"), 5000)).toBe(true);
    expect(existsSync(sock2)).toBe(false);
    rx.kill();
    const none = spawnSync(process.execPath, [join(REPO, "bin/acgd.js"), "stop", "--keep-scheduler", "--socket", sock2], {
      encoding: "utf8",
    });
    expect({ code: none.status, err: none.stderr }).toEqual({ code: 0, err: `acgd stop: no acgd answers at ${sock2}\n` });
    const unload = spawnSync(process.execPath, [join(REPO, "bin/acgc.js"), "unload", "--socket", socket], { encoding: "utf8" });
    expect({ code: unload.status, err: unload.stderr }).toEqual({
      code: 2,
      err: expect.stringMatching(/^acgc unload: acgd \(pid \d+\) is running at .* and holds the scheduler: stop it with `acgd stop`/),
    });
  });
});

describe("every command answers --help and --version", () => {
  const cases: [string, string[]][] = [
    ["acgc", []],
    ["acgc", ["check"]],
    ["acgc", ["fmt"]],
    ["acgc", ["compile"]],
    ["acgc", ["status"]],
    ["acgc", ["apply"]],
    ["acgc", ["unload"]],
    ["acg", []],
    ["acg", ["run"]],
    ["acg", ["agent"]],
    ["acg", ["agent", "register"]],
    ["acg", ["hook"]],
    ["acg", ["traces"]],
    ["acg", ["traces", "stats"]],
    ["acgd", []],
    ["acgd", ["stop"]],
  ];
  it.each(cases)("%s %j", (cmd, sub) => {
    const run = (flag: string) => spawnSync(process.execPath, [join(REPO, `bin/${cmd}.js`), ...sub, flag], { encoding: "utf8" });
    const help = run("--help");
    expect({ code: help.status, usage: /Usage/.test(help.stdout) }).toEqual({ code: 0, usage: true });
    const version = run("--version");
    expect({ code: version.status, out: version.stdout }).toEqual({ code: 0, out: expect.stringMatching(/^acg[cd]? \d+\.\d+\.\d+\n$/) });
  });

  it("acgc check - reads a policy from a pipe", () => {
    const r = spawnSync(process.execPath, [join(REPO, "bin/acgc.js"), "check", "-"], {
      input: readFileSync(join(REPO, "policies/minimal.acg")),
      encoding: "utf8",
    });
    expect({ code: r.status, err: r.stderr }).toEqual({ code: 0, err: "1 file checked: 0 errors, 0 warnings\n" });
    const bad = spawnSync(process.execPath, [join(REPO, "bin/acgc.js"), "check", "-"], {
      input: "version 1\npolicy p { tool t { class nope } }\n",
      encoding: "utf8",
    });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^<stdin>:2:/);
  });
});
