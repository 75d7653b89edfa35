// C goldens for the example policies: all four emitted C files (decide.h,
// abi.h, and the fault and trace programs' per-policy parts, which include
// native/bpf/*.bpf.c) and the manifest (with the examples folder written as
// <examples>). UPDATE_GOLDENS=1 rewrites them.
import { mkdirSync, readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { checkFile } from '../../compiler/index.js';
import { emitPolicy } from '../../codegen/index.js';

const root = join(import.meta.dirname, '..', '..');
const examplesDir = join(root, 'examples');
const goldensDir = join(root, 'test', 'goldens');
const update = process.env.UPDATE_GOLDENS === '1';

const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith('.pfp'))
  .sort();

/** The manifest without machine-specific paths or other emitters' hashes. */
function normalizeManifest(text: string): string {
  return JSON.stringify(JSON.parse(text), null, 2).split(examplesDir).join('<examples>') + '\n';
}

describe('C goldens for the examples', () => {
  test('there are examples to check', () => {
    expect(examples.length).toBeGreaterThanOrEqual(4);
  });

  for (const example of examples) {
    test(`${example}: decide.h, abi.h, fault.bpf.c, trace.bpf.c and manifest equal the goldens, twice over`, async () => {
      const r = await checkFile(join(examplesDir, example));
      if (!r.ok) throw new Error(`${example} does not check: ${JSON.stringify(r.diagnostics)}`);
      const dir = join(goldensDir, example.replace(/\.pfp$/, ''));
      for (const policy of r.value.policies) {
        const first = emitPolicy(r.value, policy);
        const second = emitPolicy(r.value, policy);
        expect([...second.entries()]).toEqual([...first.entries()]);
        const goldens: [string, string][] = [
          [`${policy.name}.decide.h`, first.get(`${policy.name}.decide.h`) ?? ''],
          [`${policy.name}.abi.h`, first.get(`${policy.name}.abi.h`) ?? ''],
          [`${policy.name}.fault.bpf.c`, first.get(`${policy.name}.fault.bpf.c`) ?? ''],
          [`${policy.name}.trace.bpf.c`, first.get(`${policy.name}.trace.bpf.c`) ?? ''],
          [`${policy.name}.policy.json`, normalizeManifest(first.get(`${policy.name}.policy.json`) ?? '{}')],
        ];
        for (const [name, text] of goldens) {
          expect(text.length).toBeGreaterThan(0);
          const path = join(dir, name);
          if (update) {
            mkdirSync(dir, { recursive: true });
            writeFileSync(path, text);
          }
          if (!existsSync(path)) throw new Error(`no golden ${path}: run with UPDATE_GOLDENS=1 and review the diff`);
          expect(text, `${name} differs from its golden (UPDATE_GOLDENS=1 rewrites it)`).toBe(readFileSync(path, 'utf8'));
        }
      }
    });
  }
});
