// The engines' debug log: `faultc -v` (or FAULTC_DEBUG=1 for the API) prints
// what the runtime decides (engine choice, userfaultfd features, BPF objects,
// trace filters) on stderr, beside libbpf's own debug lines.
export function debugEnabled(): boolean {
  const v = process.env['FAULTC_DEBUG'];
  return v !== undefined && v !== '' && v !== '0';
}

export function debug(message: string | (() => string)): void {
  if (debugEnabled()) process.stderr.write(`faultc: debug: ${typeof message === 'function' ? message() : message}\n`);
}
