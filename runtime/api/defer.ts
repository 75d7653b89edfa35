// A user-space handler for `defer` rules (uffd engine): the handler thread
// that took the fault waits, up to the deadline, for the region's handler to
// answer with the page's bytes, 'zero' or 'sigbus'. A handler that throws,
// answers something else or answers late gives SIGBUS and an error event
// (deferFailed, deferTimeout), never zeros. Without a handler a deferred
// fault maps a zero page, as before (docs/http-sources.md, "defer").

/** What a deferred fault asks the handler. */
export interface DeferredFault {
  region: string;
  /** Byte offset of the page in the region. */
  offset: bigint;
  address: bigint;
  tid: number;
  access: 'read' | 'write';
}

/** The page's bytes (at most 4096; the rest of the page is zeros), zeros, or SIGBUS. */
export type DeferAnswer = Uint8Array | 'zero' | 'sigbus';
export type DeferHandler = (fault: DeferredFault) => DeferAnswer | Promise<DeferAnswer>;

/** Default deadline of a deferred fault, handler included (`deferDeadlineMs`). */
export const DEFER_DEADLINE_MS = 2000;

/** enum fc_defer_answer (native/include/uffd_engine.h). */
const ANSWER = { page: 0, zero: 1, sigbus: 2, failed: 3 } as const;
const PAGE = 4096;

export interface NativeDeferRequest {
  id: bigint;
  region: number;
  offset: bigint;
  address: bigint;
  tid: number;
  write: boolean;
}

export interface DeferNative {
  /** Whether deferred faults wake the engine's onDefer callback (else they map zeros). */
  setDefer(enabled: boolean, deadlineMs: number): void;
  /** The requests queued since the last call, oldest first. */
  takeDeferred(): NativeDeferRequest[];
  deferReply(id: bigint, kind: number, bytes?: Uint8Array): boolean;
}

type Handlers = Map<number, { id: string; fn: DeferHandler }>;

/**
 * One engine's handlers, by policy region index. The engine wakes
 * `deferPump().callback` (data-less, like the event pump) when a deferred
 * fault is queued; the pump takes the queued requests and answers each.
 */
export class DeferDispatch {
  private readonly handlers: Handlers = new Map();
  private readonly native: WeakRef<DeferNative>;

  constructor(native: DeferNative, private readonly deadlineMs: number) {
    // Reached from the native callback (a GC root): must not keep the engine alive.
    this.native = new WeakRef(native);
  }

  set(index: number, id: string, fn: DeferHandler | null): void {
    const had = this.handlers.size > 0;
    if (fn) this.handlers.set(index, { id, fn });
    else this.handlers.delete(index);
    const native = this.native.deref();
    if (!native || had === this.handlers.size > 0) return;
    // Requests queued before the last handler goes are answered (zeros) first.
    if (this.handlers.size === 0) this.pump();
    native.setDefer(this.handlers.size > 0, this.deadlineMs);
  }

  /** Takes the queued requests and answers each. */
  pump(): void {
    const native = this.native.deref();
    if (!native) return;
    let batch: NativeDeferRequest[];
    try {
      batch = native.takeDeferred();
    } catch {
      return; // the policy closed: its faults have failed already
    }
    for (const req of batch) void answer(this.native, this.handlers, req);
  }
}

/**
 * The engine's onDefer callback, which pumps the dispatch bound later. Like
 * eventPump: the callback is a GC root for the engine's life, so it reaches
 * the dispatch (and through it the handlers, which may hold the policy)
 * only weakly, or a policy dropped without close() would never be collected.
 */
export function deferPump(): { callback: () => void; bind(d: DeferDispatch): void } {
  let dispatch: WeakRef<DeferDispatch> | undefined;
  return {
    callback: () => dispatch?.deref()?.pump(),
    bind: (d) => {
      dispatch = new WeakRef(d);
    },
  };
}

async function answer(ref: WeakRef<DeferNative>, handlers: Handlers, req: NativeDeferRequest): Promise<void> {
  const h = handlers.get(req.region);
  let kind: number = ANSWER.zero; // a region without a handler: zeros, as without any
  let bytes: Uint8Array | undefined;
  if (h) {
    try {
      const a = await h.fn({ region: h.id, offset: req.offset, address: req.address, tid: req.tid, access: req.write ? 'write' : 'read' });
      if (a === 'zero') kind = ANSWER.zero;
      else if (a === 'sigbus') kind = ANSWER.sigbus;
      else if (a instanceof Uint8Array && a.byteLength <= PAGE) {
        kind = ANSWER.page;
        bytes = a;
      } else kind = ANSWER.failed;
    } catch {
      kind = ANSWER.failed;
    }
  }
  try {
    ref.deref()?.deferReply(req.id, kind, bytes);
  } catch {
    // the policy closed meanwhile: the fault has already failed
  }
}
