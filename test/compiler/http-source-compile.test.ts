// `source <id> = http "<url>"`: what the compiler accepts, what it refuses
// (with the reason), and what the manifest carries. No server needed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkSource } from '../../compiler/index.js';
import { compileFile } from '../../codegen/build.js';
import { readManifest } from '../../codegen/manifest.js';

function policy(kind: string, url: string): string {
  return `policy p {\n  source img = ${kind} "${url}"\n  region r size 16 pages {\n    on missing { copy img prefetch 15 pages }\n  }\n}\n`;
}

function errors(text: string) {
  return checkSource(text, '/policies/http.pfp').diagnostics.filter((d) => d.severity === 'error');
}

describe('http sources: checks', () => {
  it('accepts an http:// URL and keeps it as written, unresolved', () => {
    const r = checkSource(policy('http', 'http://127.0.0.1:8080/img/heap.img'), '/policies/http.pfp');
    expect(r.diagnostics).toEqual([]);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const s = r.value.policies[0]!.sources[0]!;
    expect({ kind: s.kind, path: s.path, resolvedPath: s.resolvedPath }).toEqual({ kind: 'http', path: 'http://127.0.0.1:8080/img/heap.img', resolvedPath: 'http://127.0.0.1:8080/img/heap.img' });
  });

  it('a file source has no kind field (absent means file)', () => {
    const r = checkSource(policy('file', 'heap.img'), '/policies/http.pfp');
    expect(r.ok && r.value.policies[0]!.sources[0]!.kind).toBeUndefined();
  });

  const refused: [string, string, string, RegExp][] = [
    ['https', 'https://127.0.0.1/heap.img', 'PFP5020', /TLS/],
    ['ftp', 'ftp://127.0.0.1/heap.img', 'PFP5020', /range requests/],
    ['file URL', 'file:///srv/heap.img', 'PFP5020', /file source/],
    ['another scheme', 'gopher://127.0.0.1/heap.img', 'PFP5020', /only http:\/\//],
    ['no scheme', '127.0.0.1:8080/heap.img', 'PFP5021', /./],
    ['a relative path', 'heap.img', 'PFP5021', /./],
    ['a password', 'http://u:pw@127.0.0.1/heap.img', 'PFP5021', /./],
    ['a fragment', 'http://127.0.0.1/heap.img#x', 'PFP5021', /./],
    ['no file', 'http://127.0.0.1:8080/', 'PFP5021', /./],
  ];
  for (const [name, url, code, hint] of refused) {
    it(`refuses ${name} with ${code} on the string, and says why`, () => {
      const list = errors(policy('http', url));
      expect(list.map((d) => d.code)).toEqual([code]);
      const d = list[0]!;
      expect({ line: d.span.startLine, column: d.span.startColumn }).toEqual({ line: 2, column: 21 });
      expect(`${d.message} ${d.hint ?? ''}`).toMatch(hint);
    });
  }

  it('the reasons name what is wrong', () => {
    expect(errors(policy('http', 'http://u:pw@127.0.0.1/heap.img'))[0]!.message).toMatch(/password.*in clear/);
    expect(errors(policy('http', 'http://127.0.0.1/heap.img#x'))[0]!.message).toMatch(/fragment/);
    expect(errors(policy('http', '127.0.0.1:8080/heap.img'))[0]!.message).toMatch(/does not parse/);
    expect(errors(policy('http', 'http://127.0.0.1:8080/'))[0]!.message).toMatch(/names no file/);
  });

  it('a misspelt kind suggests http', () => {
    const d = errors(policy('htpp', 'http://127.0.0.1/heap.img'))[0]!;
    expect(d.code).toBe('PFP3010');
    expect(d.hint).toMatch(/did you mean `http`\?/);
  });
});

describe('http sources: manifest', () => {
  const dir = mkdtempSync(join(tmpdir(), 'faultc-http-compile-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('carries kind http and the URL, and reads back', async () => {
    const pfp = join(dir, 'remote.pfp');
    writeFileSync(pfp, policy('http', 'http://127.0.0.1:8080/heap.img'));
    const r = await compileFile(pfp, { outDir: join(dir, 'out'), emit: ['json'] });
    expect(r.ok, JSON.stringify(r.diagnostics)).toBe(true);
    const raw = JSON.parse(readFileSync(join(dir, 'out', 'p.policy.json'), 'utf8')) as { sources: unknown[] };
    expect(raw.sources).toEqual([{ id: 'img', index: 0, kind: 'http', path: 'http://127.0.0.1:8080/heap.img', resolvedPath: 'http://127.0.0.1:8080/heap.img' }]);
    const m = await readManifest(join(dir, 'out', 'p.policy.json'));
    expect(m.sources[0]?.kind).toBe('http');
    expect(m.ir.sources[0]?.kind).toBe('http');
  });
});
