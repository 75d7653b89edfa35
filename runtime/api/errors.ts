// Errors at the runtime's edge: each carries a stable code.
/** Error with a stable code, for failures at the runtime's edge. */
export class RuntimeError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}
