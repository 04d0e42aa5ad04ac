// The language server for .acg policies (`acgc lsp` serves it over stdio:
// cli/lsp-command.ts), on vscode-languageserver (Microsoft's implementation
// of the protocol for Node) and the same front end as `acgc check` and `acgc
// fmt`: diagnostics as you type (with the `note:` as related information),
// hover with each setting's docs, completion of a block's keys and of the
// policy's class names, and whole-document formatting.

import {
  DiagnosticSeverity,
  TextDocuments,
  TextDocumentSyncKind,
  CompletionItemKind,
  type Connection,
  type Diagnostic as LspDiagnostic,
} from "vscode-languageserver/node.js";
import { TextDocument } from "vscode-languageserver-textdocument";
import type * as A from "./ast.js";
import { format } from "./fmt.js";
import { loadPolicyText, type FrontendResult } from "./frontend.js";
import type { SCHEMAS } from "./passes/settings.js";
import { SETTING_DOCS, STATEMENT_DOCS } from "./setting-docs.js";
import type { Span } from "./source.js";

type BlockKind = keyof typeof SCHEMAS;

/** The innermost block (host, class, tenant, agent, tool) around an offset, or null. */
function blockAt(ast: A.PolicyFile | undefined, offset: number): { kind: BlockKind; body: unknown[] } | null {
  const inside = (s: Span) => s.start <= offset && offset <= s.end;
  for (const item of ast?.policy?.items ?? []) {
    if (!inside(item.span) || item.kind === "when") continue;
    if (item.kind === "tenant") {
      const agent = item.body.find((b): b is A.AgentBlock => b.kind === "agent" && inside(b.span));
      return agent ? { kind: "agent", body: agent.body } : { kind: "tenant", body: item.body };
    }
    return { kind: item.kind, body: item.body };
  }
  return null;
}

function classNames(ast: A.PolicyFile | undefined): string[] {
  return (ast?.policy?.items ?? []).filter((i): i is A.ClassBlock => i.kind === "class").map((c) => c.name.name);
}

function lspDiagnostics(doc: TextDocument, r: FrontendResult): LspDiagnostic[] {
  const range = (s: Span | undefined) =>
    s ? { start: doc.positionAt(s.start), end: doc.positionAt(s.end) } : { start: doc.positionAt(0), end: doc.positionAt(0) };
  return r.diagnostics.map((d) => ({
    range: range(d.span),
    severity: d.severity === "error" ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: d.code,
    source: "acgc",
    message: d.help ? `${d.message}\nhelp: ${d.help}` : d.message,
    ...(d.note && { relatedInformation: [{ location: { uri: doc.uri, range: range(d.note.span) }, message: d.note.message }] }),
  }));
}

/** Wires the server's handlers to a connection (stdio in `acgc lsp`). */
export function serveLanguage(connection: Connection): void {
  const documents = new TextDocuments(TextDocument);
  const parsed = new Map<string, FrontendResult>();
  const analyse = (doc: TextDocument) => {
    const r = loadPolicyText(doc.uri, doc.getText());
    parsed.set(doc.uri, r);
    void connection.sendDiagnostics({ uri: doc.uri, diagnostics: lspDiagnostics(doc, r) });
  };
  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Full,
      hoverProvider: true,
      completionProvider: { triggerCharacters: ["."] },
      documentFormattingProvider: true,
    },
    serverInfo: { name: "acgc" },
  }));
  documents.onDidChangeContent((e) => analyse(e.document));
  documents.onDidClose((e) => {
    parsed.delete(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });
  connection.onHover(({ textDocument, position }) => {
    const doc = documents.get(textDocument.uri);
    const r = parsed.get(textDocument.uri);
    if (!doc || !r) return null;
    const offset = doc.offsetAt(position);
    const block = blockAt(r.ast, offset);
    if (!block) return null;
    for (const stmt of block.body as { kind: string; key?: A.Ident; span: Span }[]) {
      if (stmt.span.start > offset || offset > stmt.span.end) continue;
      const key = stmt.kind === "setting" ? stmt.key!.name : stmt.kind === "classref" ? "class" : stmt.kind;
      const doc1 = SETTING_DOCS[block.kind]?.[key] ?? STATEMENT_DOCS[block.kind]?.[key];
      if (doc1)
        return {
          contents: { kind: "markdown", value: `**${key}** (${block.kind})\n\n${doc1}` },
          range: { start: doc.positionAt(stmt.span.start), end: doc.positionAt(stmt.span.end) },
        };
    }
    return null;
  });
  connection.onCompletion(({ textDocument, position }) => {
    const doc = documents.get(textDocument.uri);
    const r = parsed.get(textDocument.uri);
    if (!doc || !r) return [];
    const block = blockAt(r.ast, doc.offsetAt(position));
    const keys = block ? { ...SETTING_DOCS[block.kind], ...STATEMENT_DOCS[block.kind] } : {};
    const items: { label: string; kind: CompletionItemKind; detail: string }[] = Object.entries(keys).map(([label, detail]) => ({
      label,
      kind: CompletionItemKind.Property,
      detail,
    }));
    for (const name of classNames(r.ast)) items.push({ label: name, kind: CompletionItemKind.EnumMember, detail: "class" });
    return items;
  });
  connection.onDocumentFormatting(({ textDocument }) => {
    const doc = documents.get(textDocument.uri);
    const r = parsed.get(textDocument.uri);
    // Only a complete syntax tree is formatted (as `acgc fmt`); the diagnostics say what to fix.
    if (!doc || !r?.ast || !r.file || r.diagnostics.some((d) => d.code.startsWith("E01") || d.code.startsWith("E000"))) return [];
    const text = format(r.ast, doc.getText());
    return text === doc.getText()
      ? []
      : [{ range: { start: doc.positionAt(0), end: doc.positionAt(doc.getText().length) }, newText: text }];
  });
  documents.listen(connection);
  connection.listen();
}
