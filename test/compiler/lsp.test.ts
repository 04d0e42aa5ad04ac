// acgc lsp as a process, driven over the Language Server Protocol (JSON-RPC
// on stdio, vscode-jsonrpc as the client): diagnostics with related
// information, hover docs, completion of keys and class names, formatting.
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createMessageConnection, StreamMessageReader, StreamMessageWriter, type MessageConnection } from "vscode-jsonrpc/node.js";
import { SCHEMAS } from "../../compiler/passes/settings.js";
import { SETTING_DOCS } from "../../compiler/setting-docs.js";
import { REPO } from "../runtime/helpers.js";

const URI = "file:///tmp/policy.acg";
const TEXT = `version 1
policy p {
  class build { priority = normal; cpu.weight = 100 }
  class interactive { priority = high; cpu.weight = 400 }
  tool vcs { match exe in ["git", "hg"]; class interactive }
  tool git_status { match exe == "git" and argv matches "* status*"; class biuld }
  tool tests {
    match exe == "pytest"
    class build
    memory.baseline   =   512MiB
    memory.limit = 2GiB
  }
  tool default { class build }
}
`;

interface Diag {
  code: string;
  message: string;
  severity: number;
  range: { start: { line: number; character: number } };
  relatedInformation?: { message: string }[];
}

describe("acgc lsp over the protocol", () => {
  let server: ChildProcess;
  let conn: MessageConnection;
  const published: { uri: string; diagnostics: Diag[] }[] = [];
  const nextDiagnostics = () =>
    new Promise<Diag[]>((resolve) => {
      const n = published.length;
      const poll = setInterval(() => {
        if (published.length > n) {
          clearInterval(poll);
          resolve(published.at(-1)!.diagnostics);
        }
      }, 10);
    });

  beforeAll(async () => {
    server = spawn(process.execPath, [join(REPO, "bin/acgc.js"), "lsp", "--stdio"], { stdio: ["pipe", "pipe", "inherit"] });
    conn = createMessageConnection(new StreamMessageReader(server.stdout!), new StreamMessageWriter(server.stdin!));
    conn.onNotification("textDocument/publishDiagnostics", (p: { uri: string; diagnostics: Diag[] }) => void published.push(p));
    conn.listen();
    const init = await conn.sendRequest<{ capabilities: Record<string, unknown> }>("initialize", {
      processId: process.pid,
      rootUri: null,
      capabilities: {},
    });
    expect(init.capabilities).toMatchObject({ hoverProvider: true, documentFormattingProvider: true, completionProvider: {} });
    await conn.sendNotification("initialized", {});
  }, 30_000);
  afterAll(async () => {
    await conn.sendRequest("shutdown");
    await conn.sendNotification("exit");
    await new Promise((r) => server.on("close", r));
    conn.dispose();
  });

  it("publishes the front end's diagnostics, with the note as related information", async () => {
    const diags = nextDiagnostics();
    await conn.sendNotification("textDocument/didOpen", { textDocument: { uri: URI, languageId: "acg", version: 1, text: TEXT } });
    const d = await diags;
    const unknown = d.find((x) => x.code === "E0305")!;
    expect(unknown).toMatchObject({
      severity: 1,
      message: "unknown class 'biuld'\nhelp: did you mean 'build'?",
      range: { start: { line: 5, character: 75 } },
    });
    const shadow = d.find((x) => x.code === "W0401")!;
    expect(shadow.severity).toBe(2);
    expect(shadow.relatedInformation).toEqual([expect.objectContaining({ message: "'vcs' is here" })]);
  });

  it("hovers a setting with its docs", async () => {
    const h = await conn.sendRequest<{ contents: { value: string } }>("textDocument/hover", {
      textDocument: { uri: URI },
      position: { line: 9, character: 8 },
    });
    expect(h.contents.value).toBe(`**memory.baseline** (tool)\n\n${SETTING_DOCS["tool"]!["memory.baseline"]}`);
    expect(await conn.sendRequest("textDocument/hover", { textDocument: { uri: URI }, position: { line: 0, character: 1 } })).toBeNull();
  });

  it("completes the block's keys and the policy's class names", async () => {
    const inTool = await conn.sendRequest<{ label: string }[]>("textDocument/completion", {
      textDocument: { uri: URI },
      position: { line: 10, character: 4 },
    });
    const labels = inTool.map((i) => i.label);
    expect(labels).toEqual(expect.arrayContaining([...Object.keys(SCHEMAS.tool), "match", "class", "over_high", "build", "interactive"]));
    const inClass = await conn.sendRequest<{ label: string }[]>("textDocument/completion", {
      textDocument: { uri: URI },
      position: { line: 2, character: 16 },
    });
    expect(inClass.map((i) => i.label)).toEqual(expect.arrayContaining(["priority", "cpu.weight", "latency"]));
  });

  it("formats a document as acgc fmt does, and leaves a broken one alone", async () => {
    const fixed = TEXT.replace("class biuld", "class build");
    const diags = nextDiagnostics();
    await conn.sendNotification("textDocument/didChange", { textDocument: { uri: URI, version: 2 }, contentChanges: [{ text: fixed }] });
    await diags;
    const edits = await conn.sendRequest<{ newText: string }[]>("textDocument/formatting", {
      textDocument: { uri: URI },
      options: { tabSize: 2, insertSpaces: true },
    });
    expect(edits).toHaveLength(1);
    expect(edits[0]!.newText).toContain("    memory.baseline = 512MiB\n");
    const broken = nextDiagnostics();
    await conn.sendNotification("textDocument/didChange", {
      textDocument: { uri: URI, version: 3 },
      contentChanges: [{ text: "version 1\npolicy p {" }],
    });
    expect((await broken).length).toBeGreaterThan(0);
    expect(
      await conn.sendRequest("textDocument/formatting", { textDocument: { uri: URI }, options: { tabSize: 2, insertSpaces: true } }),
    ).toEqual([]);
  });

  it("documents every setting key of every block", () => {
    for (const [block, keys] of Object.entries(SCHEMAS))
      for (const k of Object.keys(keys)) expect(SETTING_DOCS[block]?.[k], `${block}.${k}`).toBeTruthy();
  });
});

describe("the TextMate grammar (editors/vscode)", () => {
  it("highlights every keyword of the lexer", () => {
    const grammar = readFileSync(join(REPO, "editors/vscode/syntaxes/acg.tmLanguage.json"), "utf8");
    const keywords = [...readFileSync(join(REPO, "compiler/lexer.ts"), "utf8").matchAll(/keyword\("(\w+)"\)/g)].map((m) => m[1]!);
    expect(keywords.length).toBeGreaterThan(20);
    const highlighted = new Set(grammar.match(/[a-z_]+/g));
    expect(keywords.filter((k) => !highlighted.has(k))).toEqual([]);
  });
});
