// Starts `faultc lsp --stdio` for .pfp files and adds one command: explain the
// fault at an offset of the region under the cursor (`faultc explain`'s path).
'use strict';
const vscode = require('vscode');
const { LanguageClient, TransportKind } = require('vscode-languageclient/node');

let client;

function serverOptions() {
  const configured = vscode.workspace.getConfiguration('faultc').get('path') || 'faultc';
  // A .js path (dist/runtime/cli.js of a checkout) runs under the editor's node.
  const run = configured.endsWith('.js')
    ? { module: configured, args: ['lsp', '--stdio'], transport: TransportKind.stdio }
    : { command: configured, args: ['lsp', '--stdio'], transport: TransportKind.stdio };
  return { run, debug: run };
}

async function explainOffset() {
  const editor = vscode.window.activeTextEditor;
  if (!editor || editor.document.languageId !== 'pfp' || !client) return;
  const offset = await vscode.window.showInputBox({ prompt: 'Offset in the region under the cursor (e.g. 0, 0x1000, 64KiB)', value: '0' });
  if (offset === undefined) return;
  const position = editor.selection.active;
  try {
    const r = await client.sendRequest('workspace/executeCommand', {
      command: 'faultc.explain',
      arguments: [{ uri: editor.document.uri.toString(), position: { line: position.line, character: position.character }, offset }],
    });
    const out = vscode.window.createOutputChannel('faultc explain');
    out.clear();
    out.appendLine(`policy ${r.policy}, region ${r.region}, on ${r.handler}, offset ${r.offset}, ${r.write ? 'write' : 'read'}`);
    for (const n of r.notes) out.appendLine(`note: ${n}`);
    for (const s of r.path) out.appendLine(`  ${s.line} | ${s.text}${s.condition ? `    -> ${s.condition}` : ''}`);
    out.appendLine(`decision: ${JSON.stringify(r.decision)}`);
    out.show(true);
  } catch (e) {
    vscode.window.showErrorMessage(String(e && e.message ? e.message : e));
  }
}

function activate(context) {
  client = new LanguageClient('faultc', 'faultc', serverOptions(), { documentSelector: [{ language: 'pfp' }] });
  context.subscriptions.push(vscode.commands.registerCommand('faultc.explainOffset', explainOffset));
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
