// `faultc lsp` driven over stdio by a real protocol client (the library VS
// Code's client is built on): open, change, diagnostics, quick fixes,
// completion, hover, definition, references, symbols, formatting, the explain
// command, shutdown. And every bad policy of the test suite gives the editor
// the diagnostics `faultc check --json` prints. Needs dist/ (the test setup
// builds it).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CodeAction, CompletionItem, DocumentSymbol, Hover, Location, TextEdit } from 'vscode-languageserver-protocol';
import { startLspSession, type LspSession } from '../../bench/lsp-client.js';
import { cases, locate } from '../helpers/bad-policies.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'faultc-lsp-test-'));
const image = join(dir, 'heap.img');
writeFileSync(image, Buffer.alloc(3 * 4096 + 100, 7));

const POLICY = `# a tiered heap
policy tiered {
  source image = file "heap.img"

  region heap size 8 MiB at 0x7f0000000000 {
    on missing {
      if offset < 1 MiB and offset < image.size {
        copy image at offset
        prefetch 3 pages ahead
      } else {
        zero
      }
    }
  }
}
`;

let session: LspSession;
let version = 1;
const uri = pathToFileURL(join(dir, 'tiered.pfp')).href;

/** Position (0-based) of the n-th occurrence of `needle` in `text`, plus `delta` characters. */
function pos(text: string, needle: string, delta = 0, nth = 1): { line: number; character: number } {
  let at = -1;
  for (let i = 0; i < nth; i++) at = text.indexOf(needle, at + 1);
  if (at < 0) throw new Error(`no ${needle}`);
  at += delta;
  const before = text.slice(0, at);
  return { line: before.split('\n').length - 1, character: at - (before.lastIndexOf('\n') + 1) };
}

async function setText(text: string): Promise<import('vscode-languageserver-protocol').PublishDiagnosticsParams> {
  version++;
  const diags = session.nextDiagnostics(uri, version);
  await session.connection.sendNotification('textDocument/didChange', {
    textDocument: { uri, version },
    contentChanges: [{ text }],
  });
  return diags;
}

beforeAll(async () => {
  writeFileSync(join(dir, 'tiered.pfp'), POLICY);
  session = await startLspSession(cli, dir, pathToFileURL(dir).href);
  const first = session.nextDiagnostics(uri, 1);
  await session.connection.sendNotification('textDocument/didOpen', { textDocument: { uri, languageId: 'pfp', version: 1, text: POLICY } });
  expect((await first).diagnostics).toEqual([]);
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
});

describe('faultc lsp over stdio', () => {
  it('publishes diagnostics as the text changes: code, hint, range, and a quick fix for the did-you-mean', async () => {
    const typo = POLICY.replace('copy image at offset', 'copy imag at offset');
    const p = await setText(typo);
    expect(p.diagnostics).toHaveLength(1);
    const d = p.diagnostics[0]!;
    expect(d.code).toBe('PFP3005');
    expect(d.source).toBe('faultc');
    expect(d.message).toMatch(/imag/);
    expect(d.message).toMatch(/\nhint: did you mean `image`\?/);
    expect(d.range).toEqual({ start: pos(typo, 'imag at'), end: pos(typo, 'imag at', 4) });

    const actions = (await session.connection.sendRequest('textDocument/codeAction', {
      textDocument: { uri },
      range: d.range,
      context: { diagnostics: [d] },
    })) as CodeAction[];
    expect(actions).toHaveLength(1);
    expect(actions[0]!.kind).toBe('quickfix');
    const edit = actions[0]!.edit!.changes![uri]![0]!;
    expect(edit).toEqual({ range: d.range, newText: 'image' });

    // The fix applied: the diagnostics clear.
    const fixed = typo.slice(0, typo.indexOf('imag at')) + edit.newText + typo.slice(typo.indexOf('imag at') + 4);
    expect(fixed).toBe(POLICY);
    expect((await setText(fixed)).diagnostics).toEqual([]);
  });

  it('points at the unclosed `{`, with the end of the file as related information', async () => {
    const open = POLICY.replace(/}\n}\n$/, '}\n');
    const p = await setText(open);
    const d = p.diagnostics.find((x) => x.code === 'PFP2011');
    expect(d).toBeDefined();
    expect(d!.range).toEqual({ start: pos(open, '{', 0, 1), end: pos(open, '{', 1, 1) });
    const end = pos(open, '\n', 1, open.split('\n').length - 1);
    expect(d!.relatedInformation).toEqual([{ location: { uri, range: { start: end, end } }, message: 'the file ends here' }]);
    await setText(POLICY);
  });

  it('applies incremental changes', async () => {
    version++;
    const diags = session.nextDiagnostics(uri, version);
    const at = pos(POLICY, 'zero');
    await session.connection.sendNotification('textDocument/didChange', {
      textDocument: { uri, version },
      contentChanges: [{ range: { start: at, end: { line: at.line, character: at.character + 4 } }, text: 'zer0' }],
    });
    const p = await diags;
    expect(p.diagnostics.map((d) => d.code)).toEqual(['PFP2004']);
    expect(p.diagnostics[0]!.data).toMatchObject({ suggestion: 'zero' });
    expect((await setText(POLICY)).diagnostics).toEqual([]);
  });

  it('completes the keywords the grammar allows there, names and units', async () => {
    const complete = async (text: string, at: { line: number; character: number }): Promise<string[]> => {
      await setText(text);
      const items = (await session.connection.sendRequest('textDocument/completion', { textDocument: { uri }, position: at })) as CompletionItem[];
      return items.map((i) => i.label).sort();
    };
    // A statement starts here.
    const stmt = POLICY.replace('        zero\n', '        \n');
    expect(await complete(stmt, pos(stmt, '      } else {\n', 15))).toEqual(['copy', 'defer', 'fill', 'if', 'notify', 'prefetch', 'sigbus', 'track', 'zero']);
    // After `copy`: the sources, not the regions.
    const copy = POLICY.replace('copy image at offset', 'copy  at offset');
    expect(await complete(copy, pos(copy, 'copy ', 5))).toEqual(['image']);
    // Inside a word being typed, the same list (the editor filters by the prefix).
    const typing = POLICY.replace('copy image at offset', 'copy im at offset');
    expect(await complete(typing, pos(typing, 'copy im', 7))).toEqual(['image']);
    // After a number: the units, the operators and what may follow the size.
    const unit = POLICY.replace('size 8 MiB', 'size 8 ');
    const afterNumber = await complete(unit, pos(unit, 'size 8 ', 7));
    expect(afterNumber).toEqual(expect.arrayContaining(['B', 'KiB', 'MiB', 'GiB', 'TiB', 'page', 'pages', 'at', 'and', 'or']));
    expect(afterNumber).not.toContain('image');
    // An operand: the fault's values and the declared names.
    const cond = POLICY.replace('offset < 1 MiB and', 'offset < 1 MiB and  and');
    expect(await complete(cond, pos(cond, 'and  and', 4))).toEqual(expect.arrayContaining(['offset', 'page', 'address', 'read', 'write', 'not', 'image', 'heap']));
    // After a region's name: only `size`.
    const region = POLICY.replace('region heap size 8 MiB', 'region heap ');
    expect(await complete(region, pos(region, 'region heap ', 12))).toEqual(['in', 'size']);
    await setText(POLICY);
  });

  it('hovers: a keyword, a source (path and size), a region (size, pages, address)', async () => {
    const hover = async (at: { line: number; character: number }): Promise<string> => {
      const h = (await session.connection.sendRequest('textDocument/hover', { textDocument: { uri }, position: at })) as Hover | null;
      return h === null ? '' : (h.contents as { value: string }).value;
    };
    expect(await hover(pos(POLICY, 'prefetch', 2))).toMatch(/neighbouring pages/);
    const src = await hover(pos(POLICY, 'image.size', 1));
    expect(src).toContain(image);
    expect(src).toContain('12,388 bytes');
    expect(src).toContain('4 pages');
    // A remote source is not fetched for a hover.
    const remote = POLICY.replace('source image = file "heap.img"', 'source image = http "http://127.0.0.1:9/heap.img"');
    await setText(remote);
    const r = await hover(pos(remote, 'image at', 1));
    expect(r).toContain('fetched from: `http://127.0.0.1:9/heap.img`');
    await setText(POLICY);
    const region = await hover(pos(POLICY, 'heap size', 1));
    expect(region).toContain('size: 8 MiB');
    expect(region).toContain('2048 pages');
    expect(region).toContain('0x7f0000000000 - 0x7f0000800000');
  });

  it('goes to a source\'s definition and lists its references', async () => {
    const def = (await session.connection.sendRequest('textDocument/definition', { textDocument: { uri }, position: pos(POLICY, 'image at', 2) })) as Location;
    expect(def).toEqual({ uri, range: { start: pos(POLICY, 'image ='), end: pos(POLICY, 'image =', 5) } });
    const refs = (await session.connection.sendRequest('textDocument/references', {
      textDocument: { uri },
      position: pos(POLICY, 'image ='),
      context: { includeDeclaration: true },
    })) as Location[];
    expect(refs.map((r) => r.range.start)).toEqual([pos(POLICY, 'image ='), pos(POLICY, 'image.size'), pos(POLICY, 'image at')]);
  });

  it('lists the policies, sources, regions and handlers as symbols', async () => {
    const syms = (await session.connection.sendRequest('textDocument/documentSymbol', { textDocument: { uri } })) as DocumentSymbol[];
    expect(syms.map((s) => s.name)).toEqual(['tiered']);
    expect(syms[0]!.children!.map((s) => s.name)).toEqual(['image', 'heap']);
    expect(syms[0]!.children![1]!.children!.map((s) => s.name)).toEqual(['on missing']);
  });

  it('formats to the canonical layout, and leaves text with syntax errors alone', async () => {
    const messy = 'policy p{region r size 1 page{on missing{zero notify}}}';
    await setText(messy);
    const edits = (await session.connection.sendRequest('textDocument/formatting', { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } })) as TextEdit[];
    expect(edits).toHaveLength(1);
    expect(edits[0]!.newText).toBe('policy p {\n  region r size 1 page {\n    on missing {\n      zero\n      notify\n    }\n  }\n}\n');
    await setText(messy.slice(0, -1));
    expect(await session.connection.sendRequest('textDocument/formatting', { textDocument: { uri }, options: { tabSize: 2, insertSpaces: true } })).toEqual([]);
    await setText(POLICY);
  });

  it('explains the fault at an offset with `faultc explain`\'s path', async () => {
    const fromEditor = await session.connection.sendRequest('workspace/executeCommand', {
      command: 'faultc.explain',
      arguments: [{ uri, position: pos(POLICY, 'zero'), offset: '2MiB' }],
    });
    const r = spawnSync(process.execPath, [cli, 'explain', join(dir, 'tiered.pfp'), '--region', 'heap', '--offset', '2MiB', '--json'], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(fromEditor).toEqual(JSON.parse(r.stdout));
    expect((fromEditor as { path: { line: number }[] }).path.map((s) => s.line)).toEqual([7, 11]);
    await expect(
      session.connection.sendRequest('workspace/executeCommand', { command: 'faultc.explain', arguments: [{ uri, region: 'heap', offset: '9MiB' }] }),
    ).rejects.toThrow(/past the end of region heap/);
  });

  it('gives every bad policy of the test suite the diagnostics of `faultc check --json`', async () => {
    const files: string[] = [];
    cases.forEach((c, i) => {
      const file = join(dir, `case${i}.pfp`);
      writeFileSync(file, locate(c.text).text);
      files.push(file);
    });
    const r = spawnSync(process.execPath, [cli, 'check', '--json', ...files], { encoding: 'utf8', maxBuffer: 64 << 20 });
    expect(r.status).toBe(1);
    const json = JSON.parse(r.stdout) as { file: string; code: string; severity: string; message: string; hint?: string; line: number; column: number; endLine: number; endColumn: number }[];
    for (const [i, c] of cases.entries()) {
      const caseUri = pathToFileURL(files[i]!).href;
      const got = session.nextDiagnostics(caseUri);
      await session.connection.sendNotification('textDocument/didOpen', { textDocument: { uri: caseUri, languageId: 'pfp', version: 1, text: locate(c.text).text } });
      const editor = (await got).diagnostics.map((d) => ({
        code: d.code,
        severity: d.severity === 1 ? 'error' : 'warning',
        message: d.message,
        start: [d.range.start.line + 1, d.range.start.character + 1],
        end: [d.range.end.line + 1, d.range.end.character + 1],
      }));
      const cli = json
        .filter((d) => d.file === files[i])
        .map((d) => ({ code: d.code, severity: d.severity, message: d.hint === undefined ? d.message : `${d.message}\nhint: ${d.hint}`, start: [d.line, d.column], end: [d.endLine, d.endColumn] }));
      expect(editor, c.name).toEqual(cli);
      expect(editor.map((d) => d.code), c.name).toContain(c.code);
      await session.connection.sendNotification('textDocument/didClose', { textDocument: { uri: caseUri } });
    }
  });

  it('shuts down on request and exits 0', async () => {
    expect(await session.close()).toBe(0);
    expect(session.stderr()).toBe('');
  });

  it('exits 1 on `exit` without a shutdown request first', async () => {
    const other = await startLspSession(cli, dir, null);
    const code = new Promise<number | null>((resolve) => other.child.on('exit', (c) => resolve(c)));
    await other.connection.sendNotification('exit');
    expect(await code).toBe(1);
    other.connection.dispose();
  });
});
