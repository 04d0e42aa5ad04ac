// `acgc lsp [--stdio]`: the language server of compiler/lsp.ts on stdin and stdout.

import { createConnection, ProposedFeatures } from "vscode-languageserver/node.js";
import { serveLanguage } from "../compiler/lsp.js";

/** Serves until the client exits. */
export function lspCommand(): Promise<number> {
  const connection = createConnection(ProposedFeatures.all, process.stdin, process.stdout);
  serveLanguage(connection);
  return new Promise((resolve) => connection.onExit(() => resolve(0)));
}
