// The acgd API: protocol validation, and a daemon on a temp socket over a
// stand-in cgroup tree, checked against malformed and unauthorized requests.
import { execFileSync, spawn } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ApiError, MAX_REQUEST_BYTES, parseRequest } from "../../runtime/api.js";
import { DaemonClient, DaemonError } from "../../runtime/client.js";
import { acgdOnSocket, TEST_POLICY, type SocketAcgd } from "./helpers.js";

describe("request validation", () => {
  const bad = (line: string) => {
    try {
      parseRequest(line);
    } catch (e) {
      return `${(e as ApiError).code}: ${(e as Error).message}`;
    }
    return "accepted";
  };
  it("names what is wrong", () => {
    expect(bad("{nope")).toMatch(/^bad_json: request is not valid JSON/);
    expect(bad("[1]")).toBe('bad_request: a request is a JSON object with an "op" field');
    expect(bad('{"op":"launch"}')).toMatch(/^unknown_op: unknown op "launch": ops are start_call, end_call/);
    expect(bad('{"op":"start_call"}')).toBe('bad_request: start_call: missing field "argv"');
    expect(bad('{"op":"start_call","argv":[]}')).toBe('bad_request: start_call: "argv" must name the command');
    expect(bad('{"op":"start_call","argv":["x"],"pid":-3}')).toBe('bad_request: start_call: "pid" must be a positive integer');
    expect(bad('{"op":"start_call","argv":[1]}')).toBe('bad_request: start_call: "argv" must be an array of strings');
    expect(bad('{"op":"end_call","call":"c","extra":1}')).toMatch(/^bad_request: end_call: unknown field "extra"/);
    expect(bad('{"op":"status","id":{}}')).toBe('bad_request: "id" must be a number or a string');
    expect(bad('{"op":"status","id":7}')).toBe("accepted");
  });
});

describe("acgd over a Unix socket", () => {
  const socketPath = join(tmpdir(), `acg-test-${process.pid}.sock`);
  let acgd: SocketAcgd;
  let client: DaemonClient;

  beforeAll(async () => {
    acgd = await acgdOnSocket(socketPath, TEST_POLICY);
    client = await DaemonClient.connect(socketPath);
  });
  afterAll(async () => {
    client.close();
    await acgd.close();
  });

  /** Raw exchange: send lines as-is, collect the response lines. */
  function raw(payload: string | Buffer, expectLines: number): Promise<unknown[]> {
    return new Promise((resolve, reject) => {
      const c = createConnection(socketPath);
      let buf = "";
      c.setEncoding("utf8");
      c.on("data", (d: string) => {
        buf += d;
        const lines = buf.split("\n").filter(Boolean);
        if (lines.length >= expectLines) {
          c.destroy();
          resolve(lines.map((l) => JSON.parse(l)));
        }
      });
      c.on("error", reject);
      c.write(payload);
    });
  }
  const tree = () => JSON.stringify(walk(acgd.root));
  function walk(p: string): unknown {
    return readdirSync(p)
      .filter((e) => statSync(join(p, e)).isDirectory())
      .sort()
      .map((e) => [e, walk(join(p, e))]);
  }

  it("sets the socket's mode explicitly", () => {
    expect(statSync(socketPath).mode & 0o777).toBe(0o660);
  });

  it("starts and ends a call for a supervisor (root outside the tree)", async () => {
    const started = (await client.request({ op: "start_call", agent: "a1", argv: ["git", "log"] })) as {
      call: string;
      cgroup: string;
      rule: string;
      class: string;
    };
    expect(started).toMatchObject({
      agent: "default/a1",
      rule: "vcs",
      class: "interactive",
      cgroup: join(acgd.root, "default", "a1", started.call),
    });
    const status = (await client.request({ op: "status" })) as { calls: unknown[]; policy: { name: string } };
    expect(status.policy.name).toBe("runtime_test");
    expect(status.calls).toHaveLength(1);
    const report = (await client.request({ op: "end_call", call: started.call })) as { rule: string; oomKilled: boolean };
    expect(report).toMatchObject({ rule: "vcs", oomKilled: false });
  });

  it("answers malformed requests with errors, changes nothing, and keeps serving", async () => {
    await client.request({ op: "start_call", agent: "keep", argv: ["true"] });
    const before = tree();
    const responses = await raw(
      'not json\n{"op":"nope"}\n{"op":"start_call","agent":"x"}\n{"op":"end_call","call":"call-404"}\n\n' +
        '{"op":"start_call","agent":"../../etc","argv":["x"]}\n',
      5,
    );
    expect(responses.map((r) => (r as { error: { code: string } }).error.code)).toEqual([
      "bad_json",
      "unknown_op",
      "bad_request",
      "not_found",
      "bad_request",
    ]);
    expect(tree()).toBe(before);
    // Bytes that are not UTF-8 and a request over 1 MiB.
    const [r1] = await raw(Buffer.from([0xff, 0xfe, 0x0a]), 1);
    expect((r1 as { ok: boolean }).ok).toBe(false);
    const [r2] = await raw(`{"op":"status","pad":"${"x".repeat(MAX_REQUEST_BYTES + 10)}"}\n`, 1);
    expect(r2).toMatchObject({ ok: false, error: { code: "too_large" } });
    expect(tree()).toBe(before);
    expect(await client.request({ op: "status" })).toBeTruthy();
  });

  it("refuses intents above the bound under refuse, and reports clamps", async () => {
    await expect(
      client.request({ op: "start_call", tenant: "strict", agent: "s1", argv: ["make"], hints: ["memory=64MiB"] }),
    ).rejects.toMatchObject({ code: "refused" });
    const c = (await client.request({ op: "start_call", agent: "a2", argv: ["make"], hints: ["memory=2GiB"] })) as {
      limits: { limitBytes: number };
      intentLog: string[];
    };
    expect(c.limits.limitBytes).toBe(96 * 1024 * 1024);
    expect(c.intentLog).toEqual(["memory=2GiB clamped to the agent's bound 96MiB"]);
  });

  it("refuses a peer that is neither root nor inside an agent's cgroup", async () => {
    const script =
      `const c=require("net").createConnection(${JSON.stringify(socketPath)});` +
      'c.on("data",d=>{process.stdout.write(d);c.end()});' +
      `c.write('{"op":"start_call","agent":"evil","argv":["x"]}\\n')`;
    // uid 65534 (nobody) needs to reach the socket: give it a permissive twin mode for this check only.
    execFileSync("chmod", ["0666", socketPath]);
    const out = await new Promise<string>((resolve) => {
      const p = spawn(process.execPath, ["-e", script], { uid: 65534, gid: 65534 });
      let s = "";
      p.stdout.on("data", (d) => (s += d));
      p.on("close", () => resolve(s));
    });
    execFileSync("chmod", ["0660", socketPath]);
    expect(JSON.parse(out)).toMatchObject({ ok: false, error: { code: "forbidden" } });
    expect(out).toMatch(/neither inside an agent's cgroup nor root/);
    expect(acgd.rt.calls.agents.has("default/evil")).toBe(false);
  });

  it("applies a new policy, and leaves the running one on errors", async () => {
    const bad = client.request({ op: "apply_policy", source: "version 1\npolicy broken {" });
    await expect(bad).rejects.toBeInstanceOf(DaemonError);
    await expect(bad).rejects.toMatchObject({ code: "policy_error" });
    expect(acgd.rt.calls.policy.name).toBe("runtime_test");
    const ok = (await client.request({ op: "apply_policy", source: TEST_POLICY.replace("runtime_test", "runtime_test_v2") })) as {
      policy: string;
    };
    expect(ok.policy).toBe("runtime_test_v2");
    expect(acgd.rt.calls.policy.name).toBe("runtime_test_v2");
  });
});

describe("concurrent start_calls", () => {
  const socketPath = join(tmpdir(), `acg-admission-${process.pid}.sock`);
  const POLICY = `version 1
policy admission {
  host { memory = 1GiB; reserve = 64MiB }
  class work { priority = normal; cpu.weight = 100 }
  agent { max_agents = 3; max_calls = 7 }
  tool default { class work; memory.baseline = 16MiB; memory.limit = 32MiB }
}
`;
  let acgd: SocketAcgd;

  beforeAll(async () => {
    acgd = await acgdOnSocket(socketPath, POLICY);
  });
  afterAll(() => acgd.close());

  /** 50 clients, each on its own connection, send one start_call each in the same instant; the outcomes, in client order. */
  async function fifty(agentOf: (i: number) => string): Promise<{ clients: DaemonClient[]; outcomes: (string | DaemonError)[] }> {
    const clients = await Promise.all(Array.from({ length: 50 }, () => DaemonClient.connect(socketPath)));
    const outcomes = await Promise.all(
      clients.map((c, i) =>
        c.request({ op: "start_call", agent: agentOf(i), argv: ["make"] }).then(
          (r) => (r as { call: string }).call,
          (e: DaemonError) => e,
        ),
      ),
    );
    return { clients, outcomes };
  }
  const admitted = (outcomes: (string | DaemonError)[]) => outcomes.filter((o): o is string => typeof o === "string");
  async function endAll(clients: DaemonClient[], calls: string[]): Promise<void> {
    await Promise.all(calls.map((call) => clients[0]!.request({ op: "end_call", call })));
    for (const c of clients) c.close();
  }

  it("admits exactly max_calls of one agent's, each with its cgroup, and refuses the rest", async () => {
    const { clients, outcomes } = await fifty(() => "busy");
    const calls = admitted(outcomes);
    expect(calls).toHaveLength(7);
    for (const o of outcomes)
      if (typeof o !== "string") expect(o).toMatchObject({ code: "refused", message: expect.stringMatching(/max_calls = 7/) });
    const leaves = readdirSync(join(acgd.root, "default", "busy"), { withFileTypes: true })
      .filter((e) => e.isDirectory() && e.name !== "agent")
      .map((e) => e.name);
    expect(leaves.sort()).toEqual([...calls].sort());
    expect(acgd.rt.calls.calls.size).toBe(7);
    await endAll(clients, calls);
  });

  it("admits exactly max_agents new agents, and refuses the others before making any cgroup", async () => {
    const { clients, outcomes } = await fifty((i) => `new${i}`);
    const calls = admitted(outcomes);
    expect(calls).toHaveLength(3);
    for (const o of outcomes)
      if (typeof o !== "string") expect(o).toMatchObject({ code: "refused", message: expect.stringMatching(/max_agents/) });
    // The idle agent of the test before made room; no refused agent got a cgroup.
    const agentDirs = readdirSync(join(acgd.root, "default"), { withFileTypes: true }).filter((e) => e.isDirectory());
    expect(agentDirs.map((e) => e.name).sort()).toEqual([...acgd.rt.calls.agents.values()].map((a) => a.agent).sort());
    expect(acgd.rt.calls.agents.size).toBe(3);
    await endAll(clients, calls);
  });
});
