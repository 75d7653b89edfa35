// Sizes: the unit words of the language and the one parser every command-line
// option uses, so `64KiB` (and its common spelling `64k`) means the same bytes
// in `trace --range`, `trace --ring-size` and `explain --offset`.
import { U64_MAX } from './limits.js';

/** Bytes per unit word, as the language spells them (case matters in a .pfp file). */
export const UNIT_SCALE: Readonly<Record<string, bigint>> = {
  B: 1n,
  KiB: 1024n,
  MiB: 1024n ** 2n,
  GiB: 1024n ** 3n,
  TiB: 1024n ** 4n,
  page: 4096n,
  pages: 4096n,
};

/** Common spellings of the unit words (lower case): a suggestion in a .pfp file, accepted on the command line. */
const LOOKALIKES: Readonly<Record<string, string>> = {
  b: 'B', byte: 'B', bytes: 'B',
  k: 'KiB', kb: 'KiB', kib: 'KiB', kilobytes: 'KiB',
  m: 'MiB', mb: 'MiB', mib: 'MiB', megabytes: 'MiB',
  g: 'GiB', gb: 'GiB', gib: 'GiB', gigabytes: 'GiB',
  t: 'TiB', tb: 'TiB', tib: 'TiB', terabytes: 'TiB',
  pg: 'pages', pgs: 'pages',
};

/** The language's unit word for a common spelling (`kb` -> `KiB`), if there is one. */
export function unitSuggestion(word: string): string | undefined {
  return LOOKALIKES[word.toLowerCase()];
}

export const UNIT_WORDS = 'B, KiB, MiB, GiB, TiB, page, pages';

/**
 * The unit a byte count reads best in: the largest of TiB, GiB, MiB and KiB
 * that divides it, else B (what generated C writes after a constant).
 */
export function sizeUnit(bytes: bigint): string {
  for (const unit of ['TiB', 'GiB', 'MiB', 'KiB'] as const) {
    const scale = UNIT_SCALE[unit] ?? 1n;
    if (bytes >= scale && bytes % scale === 0n) return unit;
  }
  return 'B';
}

const QUANTITY = /^(0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|[0-9](?:_?[0-9])*)\s*([A-Za-z]+)?$/;

/**
 * A command-line size or address: `4096`, `0x7f00_0000`, `64KiB`, `64k`,
 * `16 pages`. Unit words are those of the language or a common spelling of
 * one (`k`, `kb`, `MB`: powers of 1024). A string is the reason it is not one.
 */
export function parseQuantity(text: string): bigint | string {
  const m = QUANTITY.exec(text.trim());
  if (!m) return `'${text}' is not a number (e.g. 4096, 0x1000, 64KiB, 3pages)`;
  const word = m[2];
  const scale = word === undefined ? 1n : UNIT_SCALE[word] ?? UNIT_SCALE[unitSuggestion(word) ?? ''];
  if (scale === undefined) return `unknown unit '${word}' (${UNIT_WORDS})`;
  const v = BigInt(m[1]!.replace(/_/g, '')) * scale;
  if (v > U64_MAX) return `${text} does not fit in 64 bits`;
  return v;
}
