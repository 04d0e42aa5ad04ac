// Starts `acgc lsp --stdio` (the language server of the AgentCgroup checkout)
// for .acg files. The grammar works without it.
const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const command = vscode.workspace.getConfiguration("agentcgroup").get("acgcPath", "acgc");
  const run = command.endsWith(".js")
    ? { command: process.execPath, args: [command, "lsp", "--stdio"] }
    : { command, args: ["lsp", "--stdio"] };
  client = new LanguageClient("acgc", "acgc language server", { run, debug: run }, { documentSelector: [{ language: "acg" }] });
  context.subscriptions.push({ dispose: () => client && client.stop() });
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
