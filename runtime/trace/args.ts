// Parsing of `faultc trace` filter arguments: addresses, sizes, ranges.
import { U64_MAX } from '../../base/limits.js';
import { parseQuantity } from '../../base/units.js';

/** `4096`, `0x7f00_0000`, `64MiB`, `64k`, `16 pages`; undefined when it is none of these. */
export function parseSize(text: string): bigint | undefined {
  const v = parseQuantity(text);
  return typeof v === 'string' ? undefined : v;
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
  if (start + length - 1n > U64_MAX) return `${text} runs past the end of the address space`;
  return { kind: 'range', start, length };
}
