// A mapped region of a loaded policy: its memory, its events and counters.
import { EventEmitter } from 'node:events';
import { emitToAll } from './emit-all.js';
import { RuntimeError } from '../../base/errors.js';
import type { EngineRegion, RegionStats, TouchOptions, TouchResult } from '../engines/types.js';
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
    // biome-ignore lint/correctness/noUnusedPrivateClassMembers: held, never read: a reference that keeps the policy alive
    private readonly owner?: object,
    /** The policy's run-time sets (`set <name>`), by index. */
    private readonly sets: readonly string[] = [],
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
  touch(pages: Uint32Array, opts?: TouchOptions): Promise<TouchResult> {
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

  /**
   * Puts pages [firstPage, firstPage + count) of this region in the
   * policy's run-time set `set` (`set <name>`, tested by `page in <name>`):
   * the next fault of each such page sees it. Page indexes are offsets / 4096.
   */
  addToSet(set: string, firstPage: number, count = 1): this {
    this.changeSet(set, firstPage, count, true);
    return this;
  }

  /** Takes pages [firstPage, firstPage + count) out of run-time set `set`. */
  removeFromSet(set: string, firstPage: number, count = 1): this {
    this.changeSet(set, firstPage, count, false);
    return this;
  }

  /** Whether page `page` of this region is in run-time set `set`. */
  inSet(set: string, page: number): boolean {
    const index = this.setIndex(set);
    this.checkPages('inSet', page, 1);
    return this.setEngine().setHas!(index, page);
  }

  private setIndex(set: string): number {
    const index = this.sets.indexOf(set);
    if (index < 0) {
      throw new RuntimeError('FAULTC_SET_NOT_FOUND', `policy ${this.policy} has no set "${set}" (it has: ${this.sets.join(', ') || 'none'})`);
    }
    return index;
  }

  private checkPages(what: string, first: number, count: number): void {
    if (!Number.isSafeInteger(first) || first < 0 || !Number.isSafeInteger(count) || count < 0) {
      throw new RuntimeError('FAULTC_BAD_ARGUMENT', `${what}: pages are non-negative integers (got ${first}, count ${count})`);
    }
    const pages = Math.ceil(this.size / 4096);
    if (first + count > pages) {
      throw new RuntimeError('FAULTC_SET_RANGE', `${what}: pages ${first}..${first + count - 1} go past the end of region ${this.id} (${pages} pages)`);
    }
  }

  private setEngine(): Required<Pick<EngineRegion, 'setChange' | 'setHas'>> {
    const { setChange, setHas } = this.mapped;
    if (!setChange || !setHas) {
      throw new RuntimeError('FAULTC_ENGINE_UNSUPPORTED', `region ${this.id}: the engine of this policy does not fill run-time sets (use engine: 'uffd')`);
    }
    return { setChange: setChange.bind(this.mapped), setHas: setHas.bind(this.mapped) };
  }

  private changeSet(set: string, first: number, count: number, add: boolean): void {
    const index = this.setIndex(set);
    this.checkPages(add ? 'addToSet' : 'removeFromSet', first, count);
    this.setEngine().setChange(index, first, count, add);
  }

  /** @internal delivery from the policy's event pump */
  deliver(event: FaultEvent): void {
    emitToAll(this, 'fault', event);
  }
}
