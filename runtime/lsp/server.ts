// `faultc lsp`: the language server, over stdio. Every answer comes from the
// compiler: diagnostics are exactly `faultc check --json`'s, completion asks
// the parser what may follow, formatting is `faultc fmt`, and the explain
// command is `faultc explain --json`.
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  CodeActionKind,
  DiagnosticSeverity,
  ResponseError,
  ErrorCodes,
  SymbolKind,
  TextDocumentSyncKind,
  TextDocuments,
  createConnection,
  type CodeAction,
  type Connection,
  type Diagnostic as LspDiagnostic,
  type DocumentSymbol,
  type Hover,
  type Location,
  type Range,
} from 'vscode-languageserver/node';
import { StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { Diagnostic } from '../../base/diagnostic.js';
import { PAGE_SIZE } from '../../base/limits.js';
import type { Span } from '../../base/span.js';
import { ExplainUsageError, explainFault, explanationJson, type ExplainRequest } from '../cli/explain.js';
import { complete } from './complete.js';
import { analyze, declAt, referencesOf, tokenAt, type DocumentState } from './document.js';
import { formatText } from './format.js';
import { KEYWORD_WORDS, keywordDoc } from './keywords.js';

export const EXPLAIN_COMMAND = 'faultc.explain';

/** What the explain command takes: a document, and the fault (`region` may be left out when a position inside a region is given). */
export interface ExplainArgs extends ExplainRequest {
  uri: string;
  position?: { line: number; character: number };
}

export function spanRange(s: Span): Range {
  return { start: { line: s.startLine - 1, character: s.startColumn - 1 }, end: { line: s.endLine - 1, character: s.endColumn - 1 } };
}

/** A compiler diagnostic as the editor gets it: the hint is the message's second line, the suggestion and hint are also in `data`. */
export function toLsp(d: Diagnostic, uri: string): LspDiagnostic {
  const out: LspDiagnostic = {
    range: spanRange(d.span),
    severity: d.severity === 'error' ? DiagnosticSeverity.Error : DiagnosticSeverity.Warning,
    code: d.code,
    source: 'faultc',
    message: d.hint === undefined ? d.message : `${d.message}\nhint: ${d.hint}`,
    data: { hint: d.hint, suggestion: d.suggestion },
  };
  if (d.related) out.relatedInformation = d.related.map((r) => ({ location: { uri, range: spanRange(r.span) }, message: r.message }));
  return out;
}

function uriToFile(uri: string): string {
  if (uri.startsWith('file:')) return fileURLToPath(uri);
  // An unsaved buffer: relative source paths resolve against the working directory.
  return path.resolve(uri.replace(/^[a-z]+:/i, '').replace(/[/\\]/g, '_') || 'untitled.pfp');
}

function hex(v: bigint): string {
  return '0x' + v.toString(16);
}

function sizeText(bytes: bigint): string {
  const units: [bigint, string][] = [
    [1n << 40n, 'TiB'],
    [1n << 30n, 'GiB'],
    [1n << 20n, 'MiB'],
    [1n << 10n, 'KiB'],
  ];
  for (const [scale, unit] of units) if (bytes >= scale && bytes % scale === 0n) return `${bytes / scale} ${unit}`;
  return `${bytes} B`;
}

async function hoverName(doc: DocumentState, offset: number): Promise<string | undefined> {
  const found = declAt(doc, offset);
  if (!found) return undefined;
  const { decl, policy } = found;
  const good = doc.lastGood?.policies.find((p) => p.name === policy.ast.name.name);
  if (decl.kind === 'source' && decl.ast.kind.name !== 'file') {
    // A remote source (`http`): its size is known when the runtime asks the server, not here.
    const where = good?.sources.find((s) => s.id === decl.name.name)?.resolvedPath ?? decl.ast.path.value;
    return `**source \`${decl.name.name}\`** = ${decl.ast.kind.name} "${decl.ast.path.value}"\n\nfetched from: \`${where}\`\n\nsize: asked of the server when the policy is loaded`;
  }
  if (decl.kind === 'source') {
    const resolved = good?.sources.find((s) => s.id === decl.name.name)?.resolvedPath ?? path.resolve(path.dirname(doc.file), decl.ast.path.value);
    let size: string;
    try {
      const st = await stat(resolved);
      size = `${st.size.toLocaleString('en-US')} bytes (${sizeText(BigInt(st.size))}, ${Math.ceil(st.size / PAGE_SIZE)} pages)`;
    } catch (e) {
      size = `not readable here (${(e as NodeJS.ErrnoException).code ?? String(e)}); the runtime may give another path`;
    }
    return `**source \`${decl.name.name}\`** = ${decl.ast.kind.name} "${decl.ast.path.value}"\n\npath: \`${resolved}\`\n\nsize: ${size}`;
  }
  const r = good?.regions.find((x) => x.id === decl.name.name);
  if (!r) return `**region \`${decl.name.name}\`**\n\n(layout known once the policy checks without errors)`;
  if (r.image && r.image.select.kind !== 'range') {
    const what = r.image.select.kind === 'file' ? `the mappings of ${r.image.select.path}` : r.image.select.kind === 'anonymous' ? 'the anonymous areas' : `[${r.image.select.kind}]`;
    return `**region \`${r.id}\`**\n\ntaken from the image: ${what}, sized and placed when faultc lazy-pages reads it`;
  }
  const address = r.at === undefined ? 'chosen when the region is mapped' : `${hex(r.at)} - ${hex(r.at + r.size)}`;
  return `**region \`${r.id}\`**\n\nsize: ${sizeText(r.size)} (${r.size.toLocaleString('en-US')} bytes, ${r.size / BigInt(PAGE_SIZE)} pages)\n\naddress: ${address}`;
}

function symbols(doc: DocumentState): DocumentSymbol[] {
  return doc.policies.map((p) => ({
    name: p.ast.name.name,
    kind: SymbolKind.Namespace,
    range: spanRange(p.ast.span),
    selectionRange: spanRange(p.ast.name.span),
    children: [
      ...p.ast.sources.map((s) => ({ name: s.name.name, detail: `source ${s.kind.name} "${s.path.value}"`, kind: SymbolKind.File, range: spanRange(s.span), selectionRange: spanRange(s.name.span) })),
      ...p.ast.regions.map((r) => ({
        name: r.name.name,
        detail: 'region',
        kind: SymbolKind.Struct,
        range: spanRange(r.span),
        selectionRange: spanRange(r.name.span),
        children: r.handlers.map((h) => ({ name: `on ${h.name.name}`, kind: SymbolKind.Event, range: spanRange(h.span), selectionRange: spanRange(h.headSpan) })),
      })),
    ].sort((a, b) => a.range.start.line - b.range.start.line || a.range.start.character - b.range.start.character),
  }));
}

export function startServer(input: NodeJS.ReadableStream = process.stdin, output: NodeJS.WritableStream = process.stdout): Connection {
  const connection = createConnection(new StreamMessageReader(input), new StreamMessageWriter(output));
  const documents = new TextDocuments(TextDocument);
  const states = new Map<string, DocumentState>();
  const pending = new Set<string>();

  /** The analysis of a document's current text (made now if a change is still queued). */
  const stateOf = (uri: string): DocumentState | undefined => {
    const doc = documents.get(uri);
    if (!doc) return undefined;
    const have = states.get(uri);
    if (have && have.version === doc.version) return have;
    const next = analyze(uriToFile(uri), doc.getText(), doc.version, have);
    states.set(uri, next);
    return next;
  };

  const publish = (uri: string): void => {
    const state = stateOf(uri);
    if (!state) return;
    const diagnostics = state.analysis.result.diagnostics.map((d) => toLsp(d, uri));
    void connection.sendDiagnostics({ uri, version: state.version, diagnostics });
  };

  // Changes that arrive together are checked once, right after the last of them.
  const schedule = (uri: string): void => {
    if (pending.has(uri)) return;
    pending.add(uri);
    setImmediate(() => {
      pending.delete(uri);
      publish(uri);
    });
  };

  connection.onInitialize(() => ({
    capabilities: {
      textDocumentSync: TextDocumentSyncKind.Incremental,
      completionProvider: { triggerCharacters: [' ', '.'] },
      hoverProvider: true,
      definitionProvider: true,
      referencesProvider: true,
      documentSymbolProvider: true,
      documentFormattingProvider: true,
      codeActionProvider: { codeActionKinds: [CodeActionKind.QuickFix] },
      executeCommandProvider: { commands: [EXPLAIN_COMMAND] },
    },
    serverInfo: { name: 'faultc', version: '0.1.0' },
  }));

  documents.onDidChangeContent((e) => schedule(e.document.uri));
  documents.onDidClose((e) => {
    states.delete(e.document.uri);
    void connection.sendDiagnostics({ uri: e.document.uri, diagnostics: [] });
  });

  connection.onCompletion((p) => {
    const doc = documents.get(p.textDocument.uri);
    const state = stateOf(p.textDocument.uri);
    if (!doc || !state) return [];
    return complete(state, doc.offsetAt(p.position));
  });

  connection.onHover(async (p): Promise<Hover | null> => {
    const doc = documents.get(p.textDocument.uri);
    const state = stateOf(p.textDocument.uri);
    if (!doc || !state) return null;
    const offset = doc.offsetAt(p.position);
    const tok = tokenAt(state.analysis.tokens, offset);
    if (!tok) return null;
    const range = { start: doc.positionAt(tok.startOffset), end: doc.positionAt(tok.startOffset + tok.image.length) };
    if (KEYWORD_WORDS.includes(tok.image)) return { contents: { kind: 'markdown', value: keywordDoc(tok.image) }, range };
    const text = await hoverName(state, offset);
    return text === undefined ? null : { contents: { kind: 'markdown', value: text }, range };
  });

  connection.onDefinition((p): Location | null => {
    const doc = documents.get(p.textDocument.uri);
    const state = stateOf(p.textDocument.uri);
    if (!doc || !state) return null;
    const found = declAt(state, doc.offsetAt(p.position));
    return found ? { uri: p.textDocument.uri, range: spanRange(found.decl.name.span) } : null;
  });

  connection.onReferences((p): Location[] => {
    const doc = documents.get(p.textDocument.uri);
    const state = stateOf(p.textDocument.uri);
    if (!doc || !state) return [];
    const found = declAt(state, doc.offsetAt(p.position));
    if (!found) return [];
    const refs = referencesOf(found.policy, found.decl).slice(p.context.includeDeclaration ? 0 : 1);
    return refs.map((r) => ({ uri: p.textDocument.uri, range: spanRange(r.span) }));
  });

  connection.onDocumentSymbol((p) => {
    const state = stateOf(p.textDocument.uri);
    return state ? symbols(state) : [];
  });

  connection.onDocumentFormatting((p) => {
    const doc = documents.get(p.textDocument.uri);
    if (!doc) return [];
    const text = doc.getText();
    const r = formatText(text, uriToFile(p.textDocument.uri));
    // Text with syntax errors is left alone: its diagnostics already say why.
    if (!r.ok || r.text === text) return [];
    return [{ range: { start: { line: 0, character: 0 }, end: doc.positionAt(text.length) }, newText: r.text }];
  });

  connection.onCodeAction((p): CodeAction[] => {
    const actions: CodeAction[] = [];
    for (const d of p.context.diagnostics) {
      const suggestion = (d.data as { suggestion?: unknown } | undefined)?.suggestion;
      if (typeof suggestion !== 'string') continue;
      actions.push({
        title: `Replace with \`${suggestion}\``,
        kind: CodeActionKind.QuickFix,
        diagnostics: [d],
        isPreferred: true,
        edit: { changes: { [p.textDocument.uri]: [{ range: d.range, newText: suggestion }] } },
      });
    }
    return actions;
  });

  connection.onExecuteCommand(async (p) => {
    if (p.command !== EXPLAIN_COMMAND) throw new ResponseError(ErrorCodes.InvalidParams, `unknown command ${p.command}`);
    const args = (p.arguments?.[0] ?? {}) as ExplainArgs;
    const doc = typeof args.uri === 'string' ? documents.get(args.uri) : undefined;
    const state = doc ? stateOf(args.uri) : undefined;
    if (!doc || !state) throw new ResponseError(ErrorCodes.InvalidParams, `${EXPLAIN_COMMAND}: the document ${String(args.uri)} is not open`);
    const result = state.analysis.result;
    if (!result.ok) throw new ResponseError(ErrorCodes.InvalidParams, `${EXPLAIN_COMMAND}: the policy has errors (${result.diagnostics.filter((d) => d.severity === 'error').length})`);
    const req: ExplainRequest = { ...args };
    if (req.region === undefined && args.position) {
      const at = doc.offsetAt(args.position);
      const region = state.policies.flatMap((pol) => pol.ast.regions).find((r) => r.span.startOffset <= at && at <= r.span.endOffset);
      if (region) req.region = region.name.name;
      if (req.policy === undefined) req.policy = state.policies.find((pol) => pol.ast.span.startOffset <= at && at <= pol.ast.span.endOffset)?.ast.name.name;
    }
    try {
      return explanationJson(await explainFault(result.value, state.text, req));
    } catch (e) {
      if (e instanceof ExplainUsageError) throw new ResponseError(ErrorCodes.InvalidParams, `${EXPLAIN_COMMAND}: ${e.message}`);
      throw e;
    }
  });

  // The protocol's rule: exit 0 after a shutdown request, 1 without one.
  let shutDown = false;
  connection.onShutdown(() => {
    shutDown = true;
  });
  connection.onExit(() => process.exit(shutDown ? 0 : 1));

  documents.listen(connection);
  connection.listen();
  return connection;
}
