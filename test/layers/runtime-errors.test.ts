// The run-time error table (base/errors.ts): every FAULTC_* code the sources
// raise is in it, every entry is raised somewhere, the addon's code prefixes
// are its families, exit statuses come from it, and `faultc check --list-codes`
// lists it after the compiler's codes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { allRuntimeCodes, EXIT, exitStatusFor, isRuntimeCode, RUNTIME_CODE_FAMILIES, RUNTIME_CODES, RuntimeError } from '../../base/errors.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const work = mkdtempSync(join(tmpdir(), 'faultc-errors-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(join(root, dir)).flatMap((n) => {
    const rel = join(dir, n);
    return statSync(join(root, rel)).isDirectory() ? files(rel, ext) : ext.test(n) ? [rel] : [];
  });
}

const tsSources = ['base', 'abi', 'compiler', 'codegen', 'runtime'].flatMap((d) => files(d, /\.ts$/)).filter((f) => f !== join('base', 'errors.ts'));
const tsText = tsSources.map((f) => readFileSync(join(root, f), 'utf8')).join('\n');
const nativeText = files('native/src', /\.(c|cc|h)$/).map((f) => readFileSync(join(root, f), 'utf8')).join('\n');

/** Environment variables and C names (abi.h's FAULTC_ERR_*, FAULTC_PREFETCH_*) share the prefix; they are not error codes. */
const NOT_ERRORS = /^FAULTC_(DEBUG|BPF_DEBUG|CLANG|CC|GUARD_[A-Z]+|[A-Z_]*_H|TRACE_DECIDE|ERR_[A-Z_]+|PREFETCH_[A-Z]+)$/;

describe('the run-time error table', () => {
  it('holds every FAULTC_* code the TypeScript sources raise', () => {
    // Quoted codes only: C text inside template strings uses unquoted FAULTC_ names.
    const raised = new Set([...tsText.matchAll(/['"`](FAULTC_[A-Z_]+)['"`]/g)].map((m) => m[1]!).filter((c) => !NOT_ERRORS.test(c)));
    expect(raised.size).toBeGreaterThan(30);
    // FAULTC_CACHE is both an environment variable and a code: it is in the table.
    expect([...raised].filter((c) => !isRuntimeCode(c))).toEqual([]);
  });

  it('raises each entry somewhere, and the addon builds only the families', () => {
    const unused = Object.keys(RUNTIME_CODES).filter((code) => {
      if (tsText.includes(`'${code}'`)) return false;
      const family = Object.keys(RUNTIME_CODE_FAMILIES).find((f) => code.startsWith(f));
      return !(family !== undefined && nativeText.includes(`"${code.slice(family.length)}"`));
    });
    expect(unused).toEqual([]);
    const prefixes = new Set([...nativeText.matchAll(/"(FAULTC_[A-Z]+_)"/g)].map((m) => m[1]!));
    expect([...prefixes].sort()).toEqual(Object.keys(RUNTIME_CODE_FAMILIES).sort());
  });

  it('gives exit statuses from the table, and privilege errnos of a family exit 3', () => {
    expect(exitStatusFor('FAULTC_POLICY_INVALID')).toBe(EXIT.input);
    expect(exitStatusFor('FAULTC_REGION_NOT_FOUND')).toBe(EXIT.usage);
    expect(exitStatusFor('FAULTC_ENGINE_UNAVAILABLE')).toBe(EXIT.privilege);
    expect(exitStatusFor('FAULTC_MANIFEST_HASH')).toBe(EXIT.internal);
    expect(exitStatusFor('FAULTC_UFFD_EPERM')).toBe(EXIT.privilege);
    expect(exitStatusFor('FAULTC_KERNEL_ENOSYS')).toBe(EXIT.privilege);
    expect(exitStatusFor('FAULTC_UFFD_EINVAL')).toBe(EXIT.internal);
    expect(exitStatusFor('FAULTC_KERNEL_NO_HOOK')).toBe(EXIT.privilege);
    expect(exitStatusFor('FAULTC_CRIU_IMAGE_MISSING')).toBe(EXIT.input);
    expect(isRuntimeCode('FAULTC_UFFD_')).toBe(false);
    expect(isRuntimeCode('FAULTC_NO_SUCH_CODE')).toBe(false);
    const e = new RuntimeError('FAULTC_ENGINE_UNSUPPORTED', 'x');
    expect([e.exitStatus, e.hint]).toEqual([EXIT.internal, RUNTIME_CODES.FAULTC_ENGINE_UNSUPPORTED.hint]);
  });
});

describe('commands take their exit status from the table', () => {
  const faultc = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });

  it('faultc run: a policy that does not compile, and one that cannot be read', () => {
    const bad = join(work, 'bad.pfp');
    writeFileSync(bad, 'policy p {\n  region r size 4 pages { on missing { zero } }\n  region r size 4 pages { on missing { zero } }\n}\n');
    const r = faultc('run', bad, '--region', 'r');
    expect(r.stderr).toMatch(/does not compile/);
    expect(r.status).toBe(exitStatusFor('FAULTC_POLICY_INVALID'));
    const gone = faultc('run', join(work, 'absent.pfp'), '--region', 'r');
    expect(gone.stderr).toMatch(/cannot read/);
    expect(gone.status).toBe(exitStatusFor('FAULTC_POLICY_READ'));
  });

  it('faultc check --list-codes lists compiler and run-time codes once each', () => {
    const r = faultc('check', '--list-codes', '--json');
    expect(r.status).toBe(0);
    const list = JSON.parse(r.stdout) as { code: string; exit?: number }[];
    const codes = list.map((c) => c.code);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes).toContain('PFP1001');
    for (const c of allRuntimeCodes()) expect(list.find((x) => x.code === c.code)?.exit, c.code).toBe(c.exit);
    expect(codes).toContain('FAULTC_UFFD_<ERRNO>');
    const text = faultc('check', '--list-codes').stdout;
    expect(text).toMatch(/^FAULTC_REGION_NOT_FOUND +exit 2 +no region of that name/m);
    expect(text.indexOf('PFP1001')).toBeLessThan(text.indexOf('FAULTC_POLICY_READ'));
  });
});
