// The package as a user gets it: `npm pack`, then `npm install <tarball>` in a
// fresh folder builds the native addon (npm runs scripts/install-native.mjs),
// a TypeScript consumer compiles against the shipped types and runs, and
// `npx faultc run` maps, touches and verifies a region there.
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const isRoot = process.getuid?.() === 0;
if (!isRoot) console.warn('package-install: `faultc run` step skipped: needs root (userfaultfd)');

const POLICY = `policy pattern {
  region data size 64 KiB {
    on missing { fill 0xA5 notify }
  }
}
`;

const CONSUMER = `import { loadPolicy, type RegionStats } from 'faultc';
const policy = await loadPolicy('pattern.pfp', { engine: 'uffd' });
const region = policy.region('data');
const bytes = new Uint8Array(region.buffer);
let sum = 0;
for (let i = 0; i < bytes.length; i += 4096) sum += bytes[i]!;
const stats: RegionStats = region.stats();
console.log(JSON.stringify({ sum, faults: stats.faults }));
await policy.close();
`;

let work = '';
let app = '';
let tarball = '';

// Asynchronous: a long synchronous install would starve vitest's worker RPC.
const run = promisify(execFile);

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'faultc-pack-'));
  // dist/ is built by the test set-up; the rest of prepack is the man pages and completion.
  await run('node', [join(root, 'scripts', 'make-man.mjs')]);
  const packed = (await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', work], { cwd: root, encoding: 'utf8' })).stdout;
  tarball = join(work, (JSON.parse(packed) as { filename: string }[])[0]!.filename);
  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: app, timeout: 600_000 });
}, 900_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('npm pack + npm install <tarball>', () => {
  test('the tarball holds the package, not the project', () => {
    const list = execFileSync('tar', ['tzf', tarball], { encoding: 'utf8' }).split('\n');
    for (const f of ['package/LICENSE', 'package/native/binding.gyp', 'package/dist/runtime/cli.js', 'package/dist/runtime/index.d.ts', 'package/scripts/install-native.mjs', 'package/man/faultc.1', 'package/man/faultc-pfp.5', 'package/completion/faultc.bash', 'package/docs/language.md']) {
      expect(list).toContain(f);
    }
    for (const f of list) expect(f).not.toMatch(/^package\/(test|bench|kernel|dist\/bench|examples)\/|\.map$/);
    expect(readFileSync(join(app, 'node_modules', 'faultc', 'LICENSE'), 'utf8')).toMatch(/GNU GENERAL PUBLIC LICENSE\s+Version 2, June 1991/);
  });

  test('the install step built the addon where the loader finds it', () => {
    const pkg = join(app, 'node_modules', 'faultc');
    expect(existsSync(join(pkg, 'native', 'build', 'Release', 'faultc_native.node'))).toBe(true);
    const found = execFileSync('node', ['-e', "console.log(require('node-gyp-build').path(process.argv[1]))", join(pkg, 'native')], { cwd: pkg, encoding: 'utf8' });
    expect(found.trim()).toBe(join(pkg, 'native', 'build', 'Release', 'faultc_native.node'));
  });

  test('a TypeScript consumer compiles against the shipped types', async () => {
    writeFileSync(join(app, 'pattern.pfp'), POLICY);
    writeFileSync(join(app, 'main.ts'), CONSUMER);
    writeFileSync(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', typeRoots: [join(root, 'node_modules', '@types')], types: ['node'] },
        files: ['main.ts'],
      }),
    );
    const tsc = await run(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: app, encoding: 'utf8' }).catch((e: { stdout: string; stderr: string }) => e);
    expect(tsc.stdout + tsc.stderr).toBe('');
    if (!isRoot) return;
    const out = (await run('node', ['out/main.js'], { cwd: app, encoding: 'utf8' })).stdout;
    expect(JSON.parse(out)).toEqual({ sum: 0xa5 * 16, faults: 16 });
  }, 300_000);

  test.skipIf(!isRoot)('npx faultc run maps, touches and verifies a region', () => {
    writeFileSync(join(app, 'pattern.pfp'), POLICY);
    const r = spawnSync('npx', ['--no-install', 'faultc', 'run', 'pattern.pfp', '--region', 'data', '--verify', '--engine', 'uffd'], { cwd: app, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^verified 16 pages byte for byte against the policy and its sources: ok$/m);
    expect(r.status).toBe(0);
  });

  test('without the build tools the install step names the Debian packages', () => {
    const pkg = join(app, 'node_modules', 'faultc');
    rmSync(join(pkg, 'native', 'build'), { recursive: true, force: true });
    // A PATH with node and sh only: no g++, make, python3, pkg-config, clang (bpftool is found in /usr/sbin).
    const bin = join(work, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    symlinkSync('/bin/sh', join(bin, 'sh'));
    const r = spawnSync(join(bin, 'node'), ['scripts/install-native.mjs'], { cwd: pkg, encoding: 'utf8', env: { PATH: bin } });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^faultc: cannot build the native addon: missing g\+\+, make, python3, pkg-config, clang\.$/m);
    expect(r.stderr).toMatch(/^On Debian or Ubuntu: apt-get install g\+\+ make python3 pkg-config clang$/m);
    // And the CLI says the same instead of failing inside the addon.
    const run = spawnSync('node', ['dist/runtime/cli.js', 'run', join(app, 'pattern.pfp'), '--region', 'data'], { cwd: pkg, encoding: 'utf8' });
    expect(run.stderr).toMatch(/^faultc run: the native addon is not built .*apt-get install g\+\+ make python3 pkg-config libbpf-dev libelf-dev zlib1g-dev libcurl4-openssl-dev clang bpftool$/m);
    expect(run.status).toBe(3);
  });
});
