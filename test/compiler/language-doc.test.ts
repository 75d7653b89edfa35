// docs/language.md against the compiler: every `pfp` block compiles without a
// diagnostic, every `pfp error|warning CODE` block gives that code first, the
// keyword list is the lexer's, every code named exists, and the printed
// `faultc check` output is what the CLI prints.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { checkSource } from '../../compiler/index.js';
import { allCodes } from '../../base/codes.js';
import { KEYWORDS } from '../../grammar/tokens.js';

const root = join(import.meta.dirname, '..', '..');
const doc = readFileSync(join(root, 'docs', 'language.md'), 'utf8');

interface Block {
  info: string;
  body: string;
  line: number;
}

function blocks(text: string): Block[] {
  const out: Block[] = [];
  const re = /^```([^\n]*)\n([\s\S]*?)^```$/gm;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    out.push({ info: m[1]!.trim(), body: m[2]!, line: text.slice(0, m.index).split('\n').length });
  }
  return out;
}

const all = blocks(doc);
const pfp = all.filter((b) => b.info.split(/\s+/)[0] === 'pfp');

describe('docs/language.md', () => {
  test('has examples of each kind', () => {
    expect(pfp.filter((b) => b.info === 'pfp').length).toBeGreaterThanOrEqual(6);
    expect(pfp.filter((b) => /^pfp error /.test(b.info)).length).toBeGreaterThanOrEqual(6);
  });

  for (const b of pfp) {
    const [, kind, code] = b.info.split(/\s+/);
    test(`line ${b.line}: ${kind ? `${kind} ${code}` : 'compiles cleanly'}`, () => {
      const res = checkSource(b.body, join(root, 'docs', 'example.pfp'));
      if (kind === undefined) {
        expect(res.diagnostics.map((d) => `${d.code} ${d.message}`)).toEqual([]);
        expect(res.ok).toBe(true);
      } else {
        expect(res.diagnostics[0]?.code).toBe(code);
        expect(res.diagnostics[0]?.severity).toBe(kind);
        expect(res.ok).toBe(kind !== 'error');
      }
    });
  }

  test('the keyword list is the lexer’s', () => {
    const para = /\*\*Keywords\*\*[^`]*((?:`[^`]*`[^`]*?)+)\. A keyword prefix/s.exec(doc);
    const listed = para![1]!.replace(/`/g, '').split(/\s+/).filter(Boolean).sort();
    const lexer = KEYWORDS.map((t) => String(t.LABEL).replace(/`/g, '')).sort();
    expect(listed).toEqual(lexer);
  });

  test('every code it names exists', () => {
    const named = [...new Set(doc.match(/PFP\d{4}/g) ?? [])].filter((c) => !/^PFP[0-9]xxx$/.test(c));
    expect(named.length).toBeGreaterThan(5);
    const known = allCodes().map((c) => c.code);
    for (const c of named) expect(known, c).toContain(c);
  });

  test('the `faultc check` output shown is the CLI’s', () => {
    const out = all.find((b) => /^text output of /.test(b.info))!;
    const name = out.info.replace(/^text output of /, '');
    const input = pfp.find((b) => b.info.endsWith(` ${name}`))!;
    const dir = mkdtempSync(join(tmpdir(), 'faultc-doc-'));
    try {
      writeFileSync(join(dir, name), input.body);
      const [cmd, ...expected] = out.body.trimEnd().split('\n');
      expect(cmd).toBe(`$ faultc check ${name}`);
      const r = spawnSync('node', [join(root, 'dist', 'runtime', 'cli.js'), 'check', name], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
      expect((r.stdout + r.stderr).trimEnd().split('\n')).toEqual(expected);
      expect(r.status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
