// Where node-gyp puts what the addon's build generates (native/binding.gyp).
import { join } from 'node:path';

const repoRoot = join(import.meta.dirname, '..', '..');

/** The subskeleton headers (trace.subskel.h, fault.subskel.h) made by native/bpf/subskel.sh. */
export function subskeletonDir(): string {
  return join(repoRoot, 'native', 'build', 'Release', 'obj', 'gen', 'faultc');
}
