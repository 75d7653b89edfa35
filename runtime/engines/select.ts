// Engine selection: `auto` picks `kernel` where detectKernelEngine() says the
// fault hook exists, else `uffd`. The engines are loaded on demand, so
// nothing here is imported by an engine (they ask detect.ts about the hook).
import { engineWords } from '../api/wording.js';
import { debug } from '../api/debug.js';
import { RuntimeError } from '../../base/errors.js';
import { detectKernelEngine, loadKernelModule } from './detect.js';
import type { Engine, EngineChoice } from './types.js';


/** The engine for a choice; `auto` prefers the kernel hook. */
export async function selectEngine(choice: EngineChoice): Promise<Engine> {
  if (choice === 'kernel' || (choice === 'auto' && (await detectKernelEngine()))) {
    const m = await loadKernelModule();
    if (!m?.kernelEngine) {
      throw new RuntimeError('FAULTC_ENGINE_UNAVAILABLE', 'the kernel engine is not part of this build');
    }
    if (choice === 'kernel' && !(await detectKernelEngine())) {
      throw new RuntimeError(
        'FAULTC_ENGINE_UNAVAILABLE',
        `the kernel engine needs the faultc fault hook (the patched kernel under kernel/); this kernel does not have it: use ${engineWords('uffd')} or ${engineWords('auto')}`,
      );
    }
    debug(`engine ${choice}: kernel (the fault hook answers)`);
    return m.kernelEngine;
  }
  if (choice !== 'uffd' && choice !== 'auto') {
    throw new RuntimeError('FAULTC_ENGINE_UNKNOWN', `unknown engine "${String(choice)}" (kernel, uffd or auto)`);
  }
  debug(`engine ${choice}: uffd${choice === 'auto' ? ' (no faultc kernel hook here)' : ''}`);
  const { uffdEngine } = await import('./uffd.js');
  return uffdEngine;
}
