// `faultc fmt` over every policy of the project: the files in the repository,
// the `pfp` blocks of docs/language.md, the bad policies of the test suite and
// the generated 1,000-region bench policy. Formatting is idempotent, keeps
// the diagnostics, and the formatted policy compiles to the same C (the
// `#line` directives name the formatted file's lines, so only their numbers
// may differ). Plus the command itself: printing, --check, --write, errors.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { largePolicy } from '../../bench/check-large.js';
import { emitPolicy } from '../../codegen/index.js';
import { checkSource } from '../../compiler/index.js';
import { formatText } from '../../runtime/lsp/format.js';
import { cases, locate } from '../helpers/bad-policies.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'faultc-fmt-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const repoFiles = execFileSync('git', ['ls-files', '*.pfp'], { cwd: root, encoding: 'utf8' }).split('\n').filter(Boolean);
const docBlocks = [...readFileSync(join(root, 'docs', 'language.md'), 'utf8').matchAll(/^```pfp[^\n]*\n([\s\S]*?)^```$/gm)].map((m, i) => ({ name: `docs/language.md block ${i + 1}`, text: m[1]! }));

const policies: { name: string; file: string; text: string }[] = [
  ...repoFiles.map((f) => ({ name: f, file: join(root, f), text: readFileSync(join(root, f), 'utf8') })),
  ...docBlocks.map((b) => ({ ...b, file: join(root, 'docs', 'example.pfp') })),
  ...cases.map((c) => ({ name: `bad policy: ${c.name}`, file: join(root, 'test', 'case.pfp'), text: locate(c.text).text })),
  { name: 'generated 1,000-region policy', file: join(root, 'bench', 'large.pfp'), text: largePolicy(1000) },
];

/** Every generated C and header file of every policy, without its `#line` directives (they name the formatted file's lines, and the C writer emits one only where the line changes). */
function cOf(text: string, file: string): string[] {
  const r = checkSource(text, file);
  if (!r.ok) return [];
  return r.value.policies.flatMap((p) =>
    [...emitPolicy(r.value, p)].filter(([name]) => /\.[ch]$/.test(name)).map(([name, c]) => `${name}\n${c.replace(/^#line \d+ .*\n/gm, '')}`),
  );
}

describe('faultc fmt over every policy of the project', () => {
  it('has the policies to format', () => {
    expect(repoFiles.length).toBeGreaterThanOrEqual(10);
    expect(docBlocks.length).toBeGreaterThanOrEqual(6);
  });

  it('is idempotent, keeps every diagnostic and gives the same C', () => {
    let formatted = 0;
    let compiled = 0;
    for (const p of policies) {
      const once = formatText(p.text, p.file);
      const syntaxErrors = checkSource(p.text, p.file).diagnostics.filter((d) => d.severity === 'error' && /^PFP[12]/.test(d.code));
      if (!once.ok) {
        // Only text with lexical or syntax errors is refused, with those errors.
        expect(syntaxErrors.length, p.name).toBeGreaterThan(0);
        expect(once.diagnostics.map((d) => d.code), p.name).toEqual(syntaxErrors.map((d) => d.code));
        continue;
      }
      formatted++;
      const twice = formatText(once.text, p.file);
      expect(twice.ok && twice.text, p.name).toBe(once.text);
      const before = checkSource(p.text, p.file);
      const after = checkSource(once.text, p.file);
      // Messages that name a line ("first declared on line 3") name the formatted file's line.
      const words = (d: { code: string; message: string; hint?: string }): string[] => [d.code, d.message, d.hint ?? ''].map((s) => s.replace(/line \d+/g, 'line N'));
      expect(after.diagnostics.map(words), p.name).toEqual(before.diagnostics.map(words));
      expect(after.ok, p.name).toBe(before.ok);
      const c = cOf(p.text, p.file);
      if (c.length > 0) compiled++;
      expect(cOf(once.text, p.file), p.name).toEqual(c);
    }
    expect(formatted).toBeGreaterThanOrEqual(40);
    expect(compiled).toBeGreaterThanOrEqual(15);
  });

  it('leaves the examples as they are written, except one-line blocks', () => {
    for (const f of repoFiles.filter((x) => x.startsWith('examples/'))) {
      const text = readFileSync(join(root, f), 'utf8');
      const r = formatText(text, f);
      expect(r.ok, f).toBe(true);
      if (f === 'examples/debug-guard.pfp') expect(r.ok && r.text, f).toBe(text.replace('    on missing { fill 0xA5 }\n', '    on missing {\n      fill 0xA5\n    }\n'));
      else expect(r.ok && r.text, f).toBe(text);
    }
  });

  it('keeps comments and at most one blank line where the text had them', () => {
    const messy = '# top\n\n\npolicy   p{ # after brace\nregion r size 16 pages at 0x10000{on missing{if(offset<4 KiB)and not write{copy s at offset+1 page;prefetch 3 pages ahead}\n\n\n  # before else\nelse{sigbus}}}\n\n\nsource s=file "a\\"b"}\n# end\n';
    const r = formatText(messy);
    expect(r.ok && r.text).toBe(
      [
        '# top',
        '',
        'policy p { # after brace',
        '  region r size 16 pages at 0x10000 {',
        '    on missing {',
        '      if (offset < 4 KiB) and not write {',
        '        copy s at offset + 1 page;',
        '        prefetch 3 pages ahead',
        '      }',
        '',
        '      # before else',
        '      else {',
        '        sigbus',
        '      }',
        '    }',
        '  }',
        '',
        '  source s = file "a\\"b"',
        '}',
        '# end',
        '',
      ].join('\n'),
    );
  });
});

describe('the faultc fmt command', () => {
  const run = (args: string[]): { status: number | null; stdout: string; stderr: string } => {
    const r = spawnSync(process.execPath, [cli, 'fmt', ...args], { encoding: 'utf8', cwd: dir });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };

  it('prints, checks and rewrites', () => {
    const file = join(dir, 'p.pfp');
    writeFileSync(file, 'policy p{region r size 1 page{on missing{zero}}}');
    const want = 'policy p {\n  region r size 1 page {\n    on missing {\n      zero\n    }\n  }\n}\n';
    expect(run([file])).toEqual({ status: 0, stdout: want, stderr: '' });
    expect(run(['--check', file])).toMatchObject({ status: 1, stdout: 'p.pfp\n' });
    expect(run(['--write', file]).status).toBe(0);
    expect(readFileSync(file, 'utf8')).toBe(want);
    expect(run(['--check', file])).toEqual({ status: 0, stdout: '', stderr: '' });
  });

  it('refuses text with syntax errors, with their diagnostics, and changes nothing', () => {
    const file = join(dir, 'bad.pfp');
    writeFileSync(file, 'policy p {\n  region r size 1 page {\n');
    const r = run(['--write', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/bad\.pfp:2:24: error PFP2011/);
    expect(readFileSync(file, 'utf8')).toBe('policy p {\n  region r size 1 page {\n');
    expect(run([join(dir, 'none.pfp')]).status).toBe(4);
    expect(run([file, file]).status).toBe(2);
  });
});
