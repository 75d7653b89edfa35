// A mapped region of a loaded policy: its memory, its events and counters.
import { EventEmitter } from 'node:events';
import type { EngineRegion, RegionStats } from './engine.js';
import type { FaultEvent } from './events.js';

export interface RegionEvents {
  fault: [event: FaultEvent];
}

export class Region extends EventEmitter<RegionEvents> {
  constructor(
    readonly policy: string,
    readonly id: string,
    readonly index: number,
    private readonly mapped: EngineRegion,
  ) {
    super();
  }

  /** The region's memory. A first access blocks until the engine resolves the page. */
  get buffer(): ArrayBuffer {
    return this.mapped.buffer;
  }

  get address(): bigint {
    return this.mapped.address;
  }

  get size(): number {
    return this.mapped.size;
  }

  stats(): RegionStats {
    return this.mapped.stats();
  }

  /** Page indexes written since the last reset (`track dirty`), ascending. */
  dirtyPages(): number[] {
    return this.mapped.dirtyPages();
  }

  /** Forgets the dirty pages and watches them for writes again. */
  resetDirty(): void {
    this.mapped.resetDirty();
  }

  /** First-touches pages (indexes) from native threads; see EngineRegion.touch. */
  touch(pages: Uint32Array, opts?: { threads?: number; write?: boolean; value?: number }): Promise<{ ns: number; sum: number }> {
    return this.mapped.touch(pages, opts);
  }

  /** @internal delivery from the policy's event pump */
  deliver(event: FaultEvent): void {
    this.emit('fault', event);
  }
}
