// A mapped region of a loaded policy: its memory, its events and counters.
import { EventEmitter } from 'node:events';
import { emitToAll } from './emit-all.js';
import { RuntimeError } from './errors.js';
import type { EngineRegion, RegionStats } from '../engines/types.js';
import type { DeferHandler } from './defer.js';
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
    /** The policy: its event pump lives as long as any of its regions. */
    private readonly owner?: object,
  ) {
    super();
  }

  /**
   * The region's memory. A first access blocks until the engine resolves the
   * page. Regions over 4 GiB have none (an ArrayBuffer over native memory is
   * at most that): use view().
   */
  get buffer(): ArrayBuffer {
    const b = this.mapped.buffer;
    if (b === null) {
      throw new RuntimeError(
        'FAULTC_REGION_TOO_LARGE',
        `region ${this.id} is ${this.size} bytes: a JavaScript ArrayBuffer over it can be at most 4 GiB; use region.view(offset, length)`,
      );
    }
    return b;
  }

  /** The region's memory from `offset`, `length` bytes (1 byte to 4 GiB): for regions of any size. */
  view(offset: number, length: number): ArrayBuffer {
    return this.mapped.view(offset, length);
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

  /**
   * A user-space handler for this region's `defer` rules (uffd engine): a
   * deferred fault waits for its answer (the page's bytes, 'zero' or
   * 'sigbus') up to `deferDeadlineMs`; past it, or if the handler throws,
   * the fault gets SIGBUS and an error event. null removes it: deferred
   * faults then map zeros. The handler runs on the JavaScript thread, so a
   * deferred page must not be first touched from that thread.
   */
  onDefer(handler: DeferHandler | null): this {
    if (!this.mapped.onDefer) throw new RuntimeError('FAULTC_ENGINE_UNSUPPORTED', `region ${this.id}: the engine of this policy takes no defer handler (use engine: 'uffd')`);
    this.mapped.onDefer(handler);
    return this;
  }

  /** @internal delivery from the policy's event pump */
  deliver(event: FaultEvent): void {
    emitToAll(this, 'fault', event);
  }
}
