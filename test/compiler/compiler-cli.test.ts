// `faultc check` and `faultc explain` as a user runs them: the built CLI in a
// child process, its exit status, its stdout and stderr. Needs dist/ (the
// test setup builds it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'faultc-cli-test-'));
const good = join(root, 'examples', 'tiered.pfp');
const bad = join(dir, 'bad.pfp');

/** Node's own words when a module of dist/ is missing or half-written. */
const LOAD_FAILURE = /ERR_MODULE_NOT_FOUND|does not provide an export named|SyntaxError: /;

function faultc(args: string[], env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  // Another build writing dist/ at the same moment (tsc rewrites files in place)
  // makes node fail to load the CLI; that is not faultc's answer, so ask again.
  for (let attempt = 1; ; attempt++) {
    const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, cwd: dir });
    if (attempt < 5 && LOAD_FAILURE.test(r.stderr)) {
      spawnSync('sleep', ['1']);
      continue;
    }
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  }
}

beforeAll(() => {
  if (!existsSync(cli)) throw new Error(`${cli} is missing: build with \`npx tsc -p tsconfig.json\` first`);
  writeFileSync(bad, 'policy p {\n  region r size 100 B { }\n  region q size 1 page { on missing { zero sigbus } }\n}\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('faultc check', () => {
  it('a good file: exit 0, a line per file on stdout, nothing on stderr', () => {
    const r = faultc(['check', good]);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/tiered\.pfp: ok: tiered \(1 region\)/);
    expect(r.stderr).toBe('');
  });

  it('a bad file: exit 1, each diagnostic as file:line:col with code, line and caret, no colour when piped', () => {
    const r = faultc(['check', bad]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('bad.pfp:2:17: error PFP4008:');
    expect(r.stderr).toContain('bad.pfp:3:44: error PFP5002:');
    expect(r.stderr).toContain('2 |   region r size 100 B { }');
    expect(r.stderr).toMatch(/\n {2}\| {17}\^~~~~\n/);
    expect(r.stderr).not.toContain('\x1b[');
    expect(r.stderr).toMatch(/2 errors/);
  });

  it('--json prints a machine-readable array', () => {
    const r = faultc(['check', '--json', bad]);
    expect(r.status).toBe(1);
    const list = JSON.parse(r.stdout) as { code: string; severity: string; line: number; column: number; file: string }[];
    expect(list.map((d) => [d.code, d.severity, d.line, d.column])).toEqual([
      ['PFP4008', 'error', 2, 17],
      ['PFP5002', 'error', 3, 44],
    ]);
    expect(list[0]!.file).toBe(bad);
  });

  it('--json on a good file is an empty array', () => {
    const r = faultc(['check', '--json', good]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it('--engine adds the engine warnings and keeps exit 0', () => {
    const r = faultc(['check', '--engine', 'trace', '--json', good]);
    expect(r.status).toBe(0);
    expect((JSON.parse(r.stdout) as { code: string }[]).map((d) => d.code)).toEqual(['PFP6002']);
  });

  it('an unreadable file is exit 4, an unknown engine or no file exit 2', () => {
    expect(faultc(['check', join(dir, 'absent.pfp')]).status).toBe(4);
    expect(faultc(['check', '--engine', 'warp', good]).status).toBe(2);
    expect(faultc(['check']).status).toBe(2);
  });

  it('--list-codes prints the whole table, each code once', () => {
    const r = faultc(['check', '--list-codes', '--json']);
    expect(r.status).toBe(0);
    const codes = (JSON.parse(r.stdout) as { code: string }[]).map((c) => c.code);
    expect(codes).toContain('PFP5001');
    expect(new Set(codes).size).toBe(codes.length);
    expect(faultc(['check', '--list-codes']).stdout).toMatch(/^PFP1001 {2}error {4}unexpected character/m);
  });
});

describe('faultc explain', () => {
  it('prints the lines taken with condition values and the decision', () => {
    const r = faultc(['explain', good, '--region', 'heap', '--offset', '2MiB', '--write', '--source-size', 'image=1MiB']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/ 8 \| if offset < 1 MiB and offset < image\.size \{ +-> false/);
    expect(r.stdout).toMatch(/10 \| \} else if write \{ +-> true/);
    expect(r.stdout).toMatch(/11 \| zero\n/);
    expect(r.stdout).toMatch(/action: zero\nnotify: yes/);
  });

  it('--json gives the decision and the path as data', () => {
    const r = faultc(['explain', good, '--offset', '0x3000', '--source-size', 'image=64KiB', '--json']);
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout) as { decision: { action: string; sourceOffset: string }; path: { line: number; condition?: string }[] };
    expect(out.decision.action).toBe('copy');
    expect(out.decision.sourceOffset).toBe(String(0x3000));
    expect(out.path).toEqual([
      { line: 8, column: 10, text: 'if offset < 1 MiB and offset < image.size {', condition: 'true' },
      { line: 9, column: 9, text: 'copy image at offset' },
    ]);
  });

  it('an unknown region or an offset past the end is a usage error (exit 2)', () => {
    expect(faultc(['explain', good, '--region', 'nope']).status).toBe(2);
    expect(faultc(['explain', good, '--offset', '9MiB']).status).toBe(2);
  });

  it('a policy with errors: its diagnostics and exit 1', () => {
    const r = faultc(['explain', bad, '--region', 'q']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('PFP5002');
  });
});
