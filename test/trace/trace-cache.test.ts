// The policy-free trace program's cache (codegen/generic-trace.ts): built once
// by the real clang, then found with no compile; another compiler, or a header
// the compile read that has changed since, gets a fresh build, never the old
// object. No root needed.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { genericTraceObject, parseDepFile, resolveCommand, type DepStamp } from '../../codegen/generic-trace.js';

const work = mkdtempSync(join(tmpdir(), 'faultc-trace-cache-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const clang = resolveCommand(process.env.FAULTC_CLANG || 'clang');
if (!clang) console.log('trace-cache builds skipped: clang is not installed');

function withClang<T>(command: string | undefined, fn: () => Promise<T>): Promise<T> {
  const before = process.env.FAULTC_CLANG;
  if (command === undefined) delete process.env.FAULTC_CLANG;
  else process.env.FAULTC_CLANG = command;
  return fn().finally(() => {
    if (before === undefined) delete process.env.FAULTC_CLANG;
    else process.env.FAULTC_CLANG = before;
  });
}

describe('parseDepFile', () => {
  test('reads the files of a make rule, continued lines and escaped spaces', () => {
    const text = '/c/o.bpf.o: /src/trace.bpf.c \\\n  /usr/include/linux/bpf.h /odd\\ dir/x.h \\\n  /usr/include/bpf/bpf_helpers.h\n';
    expect(parseDepFile(text)).toEqual(['/src/trace.bpf.c', '/usr/include/linux/bpf.h', '/odd dir/x.h', '/usr/include/bpf/bpf_helpers.h']);
    expect(parseDepFile('nothing here')).toEqual([]);
  });
});

describe.skipIf(!clang)('the generic trace object cache', () => {
  const cache = join(work, 'cache');

  test('is built once, then found without compiling; its header list names the system headers', async () => {
    mkdirSync(cache);
    const first = await genericTraceObject(cache);
    expect(readFileSync(first).subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
    const deps = JSON.parse(readFileSync(first.replace(/\.trace\.bpf\.o$/, '.deps.json'), 'utf8')) as DepStamp[];
    const paths = deps.map((d) => d.path);
    expect(paths.some((p) => p.endsWith('/trace.bpf.c'))).toBe(true);
    expect(paths.some((p) => p.endsWith('/bpf/bpf_helpers.h'))).toBe(true);
    const built = statSync(first).mtimeMs;
    // Found again: same path, not rebuilt (no build folder left, same file).
    expect(await genericTraceObject(cache)).toBe(first);
    expect(statSync(first).mtimeMs).toBe(built);
    expect(readdirSync(cache).filter((f) => f.startsWith('build-'))).toEqual([]);
  });

  test('a header that changed since the build gets the object built again', async () => {
    const object = await genericTraceObject(cache);
    const depsFile = object.replace(/\.trace\.bpf\.o$/, '.deps.json');
    const deps = JSON.parse(readFileSync(depsFile, 'utf8')) as DepStamp[];
    // As if libbpf's headers had been upgraded: one header's recorded size no longer matches.
    const i = deps.findIndex((d) => d.path.endsWith('/bpf/bpf_helpers.h'));
    deps[i] = { ...deps[i]!, size: deps[i]!.size + 1 };
    writeFileSync(depsFile, JSON.stringify(deps));
    const before = statSync(object).ino;
    expect(await genericTraceObject(cache)).toBe(object);
    // A new file was renamed into place, and the list is true again.
    expect(statSync(object).ino).not.toBe(before);
    const now = JSON.parse(readFileSync(depsFile, 'utf8')) as DepStamp[];
    expect(now.find((d) => d.path.endsWith('/bpf/bpf_helpers.h'))!.size).toBe(statSync(now[i]!.path).size);
  });

  test('another compiler is another object; a missing one is said, not replaced by the old object', async () => {
    const object = await genericTraceObject(cache);
    const wrapper = join(work, 'clang-wrapper');
    writeFileSync(wrapper, `#!/bin/sh\nexec ${clang} "$@"\n`);
    chmodSync(wrapper, 0o755);
    const other = await withClang(wrapper, () => genericTraceObject(cache));
    expect(other).not.toBe(object);
    expect(statSync(other).size).toBeGreaterThan(0);
    await expect(withClang(join(work, 'no-such-clang'), () => genericTraceObject(cache))).rejects.toThrow(/no-such-clang.*not installed/);
  });
});
