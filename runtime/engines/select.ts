// Engine selection: `auto` picks `kernel` where detectKernelEngine() says the
// fault hook exists, else `uffd`. The engines are loaded on demand, so
// nothing here is imported by an engine.
import { debug } from '../api/debug.js';
import { RuntimeError } from '../api/errors.js';
import type { Engine, EngineChoice } from './types.js';

interface KernelEngineModule {
  kernelEngine?: Engine;
  detectKernelEngine?: () => boolean | Promise<boolean>;
}

// engines/kernel.ts may not exist in every build: import it by a
// computed name so this file compiles and runs without it.
const KERNEL_MODULE = './kernel.js';
let kernelModule: Promise<KernelEngineModule | null> | undefined;

function loadKernelModule(): Promise<KernelEngineModule | null> {
  kernelModule ??= import(KERNEL_MODULE).then(
    (m: unknown) => m as KernelEngineModule,
    () => null,
  );
  return kernelModule;
}

/** Whether the kernel fault hook exists here (false until engines/kernel.ts says otherwise). */
export async function detectKernelEngine(): Promise<boolean> {
  const m = await loadKernelModule();
  if (!m?.detectKernelEngine || !m.kernelEngine) return false;
  try {
    return await m.detectKernelEngine();
  } catch {
    return false;
  }
}

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
        'the kernel engine needs the faultc fault hook (the patched kernel under kernel/); this kernel does not have it: use engine "uffd" or "auto"',
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
