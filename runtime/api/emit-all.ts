// Delivery of one event to every listener, whatever the others do: a listener
// that throws does not stop the rest of its listeners or of the batch, and its
// exception still surfaces (as an uncaught exception, on the next tick), as it
// would had the event been emitted on its own.
import type { EventEmitter } from 'node:events';

export function emitToAll(emitter: EventEmitter, name: string, event: unknown): void {
  // rawListeners keeps `once` wrappers, which remove themselves when called.
  for (const listener of emitter.rawListeners(name) as ((e: unknown) => void)[]) {
    try {
      listener.call(emitter, event);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }
}
