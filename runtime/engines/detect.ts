// Whether the kernel fault hook exists here. Apart from select.ts so an engine
// can ask (the uffd engine names the hook when userfaultfd is refused) without
// importing the selection that imports it.
import type { Engine } from './types.js';

export interface KernelEngineModule {
  kernelEngine?: Engine;
  detectKernelEngine?: () => boolean | Promise<boolean>;
}

// Loaded on first use: a process that only runs the uffd engine never
// loads the kernel engine's module.
let kernelModule: Promise<KernelEngineModule | null> | undefined;

export function loadKernelModule(): Promise<KernelEngineModule | null> {
  kernelModule ??= import('./kernel.js').then(
    (m): KernelEngineModule => m,
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
