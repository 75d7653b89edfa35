// What each keyword means, for hovers and completion details. Keys are the
// keyword's text as the lexer's token list (grammar/tokens.ts) spells it; a
// keyword without an entry here still completes and hovers, with its label.
import { KEYWORDS } from '../../grammar/tokens.js';
import { UNIT_SCALE } from '../../base/units.js';

const DOCS: Record<string, string> = {
  policy: '`policy <name> { ... }` declares a policy: its sources and regions. One file may hold several.',
  source: '`source <id> = file "<path>"`: where page contents come from. A relative path is relative to the folder of the .pfp file; the runtime may override it.',
  file: '`file "<path>"`: a source read from a file.',
  region: '`region <id> size <size> [at <address>] { ... }`: a memory region and the rules for faults in it.',
  size: '`size <size>`: the region\'s length, a whole number of pages. `<name>.size` is the size of a region or source.',
  at: '`at <address>` fixes a region\'s address; `copy <source> at <expr>` copies from that byte offset of the source.',
  on: '`on missing { ... }` or `on write { ... }`: the rules for one kind of fault.',
  missing: '`on missing`: the first touch of a page with no contents. Every path must resolve the fault exactly once.',
  write: '`on write`: the first write to a present page (write tracking). As a value, `write` is true when the access is a write.',
  read: 'True when the faulting access is a read.',
  if: '`if <cond> { ... } else if <cond> { ... } else { ... }`: a decision; there are no loops.',
  else: 'The branch taken when the conditions before it are false.',
  zero: 'Resolves the fault with a page of zeros.',
  fill: '`fill <byte>`: resolves the fault with a page whose every byte is `<byte>` (0..255), e.g. poison `0xA5`.',
  copy: '`copy <source> [at <expr>]`: resolves the fault with the page copied from the source at byte offset `<expr>` (default `offset`, page-aligned). A page wholly past the end of the source gets SIGBUS.',
  sigbus: 'The faulting thread receives SIGBUS; nothing is mapped. In `on write`: writes are forbidden.',
  defer: 'Hands the fault to a user-space handler (kernel engine; the uffd engine already is one and maps a zero page).',
  prefetch: '`prefetch <n> pages [ahead|behind|around]`: in the same fault, also resolves up to n missing neighbouring pages, each by the same rule at its own offset.',
  pages: 'A unit of 4 KiB pages (`16 pages`), or the count unit of `prefetch`.',
  page: 'A unit of one 4 KiB page; as a value, `page` is `offset / 4 KiB`.',
  ahead: 'Prefetch the pages after the faulting page (the default).',
  behind: 'Prefetch the pages before the faulting page.',
  around: 'Prefetch pages on both sides of the faulting page.',
  notify: 'Emits an event for the faulting page: policy, region, page offset, address, thread, access, action, pages resolved, time.',
  track: '`track dirty` (in `on write`): remembers the page as written since the last reset.',
  dirty: '`track dirty` (in `on write`): remembers the page as written since the last reset.',
  offset: 'Byte offset of the faulting page in its region.',
  address: 'Address of the faulting page.',
  and: 'Logical and (both sides are conditions).',
  or: 'Logical or.',
  not: 'Logical not: applies up to the next `and` / `or`.',
};

/** The text of a keyword token type (its pattern is the word itself). */
export function keywordText(t: { PATTERN?: unknown; name: string }): string {
  const p = t.PATTERN;
  return p instanceof RegExp ? p.source : typeof p === 'string' ? p : t.name;
}

export const KEYWORD_WORDS: string[] = KEYWORDS.map(keywordText);

export function isUnit(word: string): boolean {
  return UNIT_SCALE[word] !== undefined;
}

/** Markdown for a keyword's hover. */
export function keywordDoc(word: string): string {
  const doc = DOCS[word];
  if (isUnit(word)) {
    const bytes = UNIT_SCALE[word]!;
    return `\`${word}\`: unit of ${bytes.toLocaleString('en-US')} bytes${doc ? `. ${doc}` : ''}`;
  }
  return doc ?? `\`${word}\`: a keyword of the .pfp language.`;
}
