// Parsing of `faultc trace` filter arguments: addresses, sizes, ranges.

const UNITS: Record<string, bigint> = {
  b: 1n,
  k: 1024n,
  kib: 1024n,
  m: 1n << 20n,
  mib: 1n << 20n,
  g: 1n << 30n,
  gib: 1n << 30n,
  t: 1n << 40n,
  tib: 1n << 40n,
  page: 4096n,
  pages: 4096n,
};

/** `4096`, `0x7f00_0000`, `64MiB`, `16 pages`; undefined when it is none of these. */
export function parseSize(text: string): bigint | undefined {
  const m = /^\s*(0x[0-9a-f_]+|[0-9][0-9_]*)\s*([a-z]*)\s*$/i.exec(text);
  if (!m) return undefined;
  const digits = m[1]!.replace(/_/g, '');
  if (digits === '0x' || digits === '') return undefined;
  const unit = m[2]!.toLowerCase();
  const mult = unit === '' ? 1n : UNITS[unit];
  if (mult === undefined) return undefined;
  return BigInt(digits) * mult;
}

export type RangeArg =
  | { kind: 'range'; start: bigint; length: bigint }
  /** REGION=START: place a policy region. */
  | { kind: 'place'; region: string; start: bigint };

/** `START:LEN` or `REGION=START`. */
export function parseRangeArg(text: string): RangeArg | string {
  const place = /^([A-Za-z_][A-Za-z0-9_]*)=(.+)$/.exec(text);
  if (place) {
    const start = parseSize(place[2]!);
    if (start === undefined) return `bad address in ${text}`;
    if (start % 4096n !== 0n) return `${text}: a region must start on a page boundary`;
    return { kind: 'place', region: place[1]!, start };
  }
  const i = text.indexOf(':');
  if (i < 0) return `expected START:LEN or REGION=START, got ${text}`;
  const start = parseSize(text.slice(0, i));
  const length = parseSize(text.slice(i + 1));
  if (start === undefined) return `bad start address in ${text}`;
  if (length === undefined || length === 0n) return `bad length in ${text}`;
  if (start + length > 1n << 64n) return `${text} runs past the end of the address space`;
  return { kind: 'range', start, length };
}
