// The one table of diagnostic codes. A code never changes meaning once given.
//   PFP1xxx  input and lexical      PFP4xxx  types, units and values
//   PFP2xxx  syntax                 PFP5xxx  control-flow paths and source paths
//   PFP3xxx  names                  PFP6xxx  engines
//                                   PFP9xxx  code generation and build (codegen/)
// Messages are templates: `{name}` is replaced by the argument of that name.
import type { Diagnostic, Severity } from './diagnostic.js';
import type { Span } from './span.js';

interface CodeEntry {
  code: string;
  severity: Severity;
  message: string;
  hint?: string;
  /** About the file or the command as a whole: no line to point at, so none is shown. */
  fileLevel?: true;
}

export const CODES = {
  // ---- PFP1xxx: input and lexical ----
  unexpectedCharacter: { code: 'PFP1001', severity: 'error', message: 'unexpected character {char}' },
  unterminatedString: {
    code: 'PFP1002',
    severity: 'error',
    message: 'string is not closed before the end of the line',
    hint: 'close it with " on the same line; write \\n for a line break inside a string',
  },
  invalidEscape: {
    code: 'PFP1003',
    severity: 'error',
    message: 'unknown escape {escape} in string',
    hint: 'the escapes are \\" \\\\ and \\n',
  },
  nulInString: { code: 'PFP1004', severity: 'error', message: 'NUL character inside a string' },
  malformedInteger: {
    code: 'PFP1005',
    severity: 'error',
    message: 'malformed integer {text}',
    hint: 'write decimal (4096) or hex (0x1000); `_` may stand only between digits',
  },
  integerTooLarge: {
    code: 'PFP1006',
    severity: 'error',
    message: 'integer {text} does not fit in 64 bits',
  },
  identifierTooLong: {
    code: 'PFP1007',
    severity: 'error',
    message: 'name is {length} characters long; the limit is {limit}',
  },
  inputTooLarge: {
    code: 'PFP1008',
    severity: 'error',
    message: 'input is {size} bytes; the limit is {limit}',
    hint: 'split the policies over several files',
    fileLevel: true,
  },
  notUtf8: {
    code: 'PFP1009',
    severity: 'error',
    message: 'not a policy file: its bytes are not UTF-8 text (a binary file?)',
    hint: 'name the .pfp source file',
    fileLevel: true,
  },
  cannotRead: { code: 'PFP1010', severity: 'error', message: 'cannot read the file: {reason}', fileLevel: true },
  tooManyDiagnostics: {
    code: 'PFP1011',
    severity: 'error',
    message: 'too many errors; stopped after {limit}',
  },

  // ---- PFP2xxx: syntax ----
  unexpectedToken: { code: 'PFP2001', severity: 'error', message: 'expected {expected} but found {found}' },
  keywordAsName: {
    code: 'PFP2002',
    severity: 'error',
    message: '{found} is a keyword and cannot be used as a name',
    hint: 'choose another name, e.g. {found}_1',
  },
  unexpectedEnd: { code: 'PFP2003', severity: 'error', message: 'unexpected end of file: expected {expected}' },
  unclosedBrace: {
    code: 'PFP2011',
    severity: 'error',
    message: 'this `{` is never closed: the file ends (line {endLine}) before its `}`',
    hint: 'add `}` where the block ends',
  },
  expectedStatement: {
    code: 'PFP2004',
    severity: 'error',
    message: 'expected a statement but found {found}',
    hint: 'statements are: zero, fill, copy, sigbus, defer, prefetch, notify, track dirty, if',
  },
  expectedExpression: {
    code: 'PFP2005',
    severity: 'error',
    message: 'expected an expression but found {found}',
  },
  expectedPolicy: {
    code: 'PFP2006',
    severity: 'error',
    message: 'expected `policy` but found {found}',
    hint: 'a .pfp file holds `policy <name> { ... }` blocks',
  },
  expectedDeclaration: {
    code: 'PFP2007',
    severity: 'error',
    message: 'expected `source` or `region` but found {found}',
  },
  nestingTooDeep: {
    code: 'PFP2008',
    severity: 'error',
    message: 'nesting is deeper than {limit} levels',
    hint: 'flatten the conditions with `and`/`or` or `else if`',
  },
  expressionTooDeep: {
    code: 'PFP2009',
    severity: 'error',
    message: 'expression is nested deeper than {limit} operators',
  },
  chainedComparison: {
    code: 'PFP2010',
    severity: 'error',
    message: 'comparisons cannot be chained',
    hint: 'write `a < b and b < c`',
  },

  // ---- PFP3xxx: names ----
  duplicatePolicy: { code: 'PFP3001', severity: 'error', message: 'policy `{name}` is declared twice', hint: 'first declared on line {line}' },
  duplicateName: {
    code: 'PFP3002',
    severity: 'error',
    message: '`{name}` is already declared in policy `{policy}`',
    hint: 'first declared on line {line}; sources and regions share one namespace',
  },
  duplicateHandler: { code: 'PFP3003', severity: 'error', message: 'region `{region}` has two `on {handler}` handlers', hint: 'first on line {line}' },
  unknownHandler: {
    code: 'PFP3004',
    severity: 'error',
    message: 'unknown handler `on {handler}`',
    hint: 'the handlers are `on missing` and `on write`',
  },
  unknownSource: { code: 'PFP3005', severity: 'error', message: 'no source named `{name}` in policy `{policy}`' },
  copyFromRegion: {
    code: 'PFP3006',
    severity: 'error',
    message: '`{name}` is a region, not a source',
    hint: 'declare a source: source {name}_image = file "path"',
  },
  unknownName: { code: 'PFP3007', severity: 'error', message: 'no source or region named `{name}` in policy `{policy}`' },
  unknownProperty: {
    code: 'PFP3008',
    severity: 'error',
    message: '`{object}` has no property `{property}`',
    hint: 'the only property is `.size`',
  },
  nameNotValue: {
    code: 'PFP3009',
    severity: 'error',
    message: '`{name}` is not a value',
    hint: 'did you mean `{name}.size`? Values are integers, sizes, offset, page, address, read, write and <name>.size',
  },
  unknownSourceKind: {
    code: 'PFP3010',
    severity: 'error',
    message: 'unknown source kind `{kind}`',
    hint: 'write: source <id> = file "<path>"',
  },
  tooManySources: { code: 'PFP3011', severity: 'error', message: 'policy `{policy}` declares more than {limit} sources' },
  unusedSource: { code: 'PFP3012', severity: 'warning', message: 'source `{name}` is never used' },
  noRegions: { code: 'PFP3013', severity: 'error', message: 'policy `{policy}` declares no regions' },
  sizeNotKnownHere: {
    code: 'PFP3014',
    severity: 'error',
    message: 'the size of `{name}` is not known here',
    hint: 'a region size or address may use only the sizes of regions declared before it',
  },
  noPolicies: { code: 'PFP3015', severity: 'error', message: 'file declares no policy', hint: 'write: policy <name> { region <id> size 1 MiB { on missing { zero } } }' },
  tooManyRegions: { code: 'PFP3016', severity: 'error', message: 'policy `{policy}` declares more than {limit} regions' },
  sourceSizeInLayout: {
    code: 'PFP3017',
    severity: 'error',
    message: '`{name}.size` is known only at load time and cannot set a region size or address',
  },
  setNotValue: {
    code: 'PFP3018',
    severity: 'error',
    message: 'set `{name}` is not a value',
    hint: 'test a page with `page in {name}`',
  },
  inNeedsSet: {
    code: 'PFP3019',
    severity: 'error',
    message: '`in` needs a set on its right',
    hint: 'declare one in the policy: set <name>, then write `page in <name>`',
  },
  tooManySets: { code: 'PFP3020', severity: 'error', message: 'policy `{policy}` declares more than {limit} sets' },
  unusedSet: { code: 'PFP3021', severity: 'warning', message: 'set `{name}` is never tested' },
  // Regions of a process image (`region <id> in <criu source> ...`, docs/criu.md).
  imageNotCriu: {
    code: 'PFP3030',
    severity: 'error',
    message: 'region `{region}`: `{name}` is not a criu source',
    hint: 'declare the images directory: source {name} = criu "<dir>"',
  },
  mixedImageRegions: {
    code: 'PFP3031',
    severity: 'error',
    message: 'policy `{policy}` mixes regions taken from an image with regions of its own size',
    hint: 'a policy with a criu source describes a restored process: write every region as `region <id> in <image> ...`',
  },

  // ---- PFP4xxx: types, units and values ----
  unknownUnit: {
    code: 'PFP4001',
    severity: 'error',
    message: 'unknown unit `{unit}`',
    hint: 'the units are B, KiB, MiB, GiB, TiB (powers of 1024), page and pages (4 KiB){suggest}',
  },
  sizeOverflow: { code: 'PFP4002', severity: 'error', message: '{text} does not fit in 64 bits' },
  divisionByZero: { code: 'PFP4003', severity: 'error', message: '{op} by a constant zero' },
  fillOutOfRange: {
    code: 'PFP4004',
    severity: 'error',
    message: 'fill byte {value} is out of range',
    hint: 'a byte is 0..255 (0x00..0xFF)',
  },
  fillNotConstant: {
    code: 'PFP4005',
    severity: 'error',
    message: 'fill byte must be a constant',
    hint: 'use if/else to choose between fills',
  },
  notConstant: {
    code: 'PFP4006',
    severity: 'error',
    message: 'region {what} must be a constant',
    hint: 'offset, page, address, read and write exist only when a fault happens',
  },
  regionSizeZero: { code: 'PFP4007', severity: 'error', message: 'region `{region}` has size 0' },
  regionSizeNotPages: {
    code: 'PFP4008',
    severity: 'error',
    message: 'region `{region}` size {size} is not a whole number of pages',
    hint: 'a page is 4 KiB; the nearest whole sizes are {below} and {above} bytes',
  },
  addressNotAligned: {
    code: 'PFP4009',
    severity: 'error',
    message: 'region `{region}` address {address} is not page-aligned',
    hint: 'addresses are multiples of 4 KiB (0x1000)',
  },
  outsideUserSpace: {
    code: 'PFP4010',
    severity: 'error',
    message: 'region `{region}` ends at {end}, beyond the user address space',
    hint: 'address + size must be at most 0x7fff_ffff_f000',
  },
  regionTooLarge: {
    code: 'PFP4011',
    severity: 'error',
    message: 'region `{region}` size {size} is larger than the user address space',
  },
  prefetchOutOfRange: {
    code: 'PFP4012',
    severity: 'error',
    message: 'prefetch of {count} pages is out of range',
    hint: 'prefetch between 1 and {limit} pages',
  },
  copyOffsetUnaligned: {
    code: 'PFP4013',
    severity: 'error',
    message: 'copy offset {value} is not page-aligned',
    hint: 'source offsets are multiples of 4 KiB (0x1000)',
  },
  constantWraps: {
    code: 'PFP4014',
    severity: 'warning',
    message: 'constant expression wraps around 64 bits to {value}',
  },
  shiftTooLarge: {
    code: 'PFP4015',
    severity: 'warning',
    message: 'shift by {amount} is 64 or more: the result is always 0',
  },
  belowMinAddress: {
    code: 'PFP4016',
    severity: 'warning',
    message: 'region `{region}` address {address} is below 64 KiB',
    hint: 'Linux refuses mappings below vm.mmap_min_addr (64 KiB by default)',
  },
  overlappingRegions: {
    code: 'PFP4017',
    severity: 'error',
    message: 'region `{region}` [{start}, {end}) overlaps region `{other}` [{otherStart}, {otherEnd})',
    hint: '`{other}` is declared on line {line}',
  },
  pageComparedWithBytes: {
    code: 'PFP4018',
    severity: 'warning',
    message: '`page` counts pages but {other} is a byte size',
    hint: 'compare `offset` with byte sizes, or `page` with page counts (`page < 16`, `offset < 16 pages`)',
  },
  imageSelectUnknown: {
    code: 'PFP4030',
    severity: 'error',
    message: 'region `{region}`: {what} is not a kind of area of a process image',
    hint: 'write "[heap]", "[stack]", a mapped file\'s absolute path in quotes, anonymous, or at <address> size <size>',
  },
  imageRegionSize: {
    code: 'PFP4031',
    severity: 'error',
    message: '`{name}` is sized by its image when the policy is loaded: `{name}.size` is not known here',
  },
  prefetchBlockSize: {
    code: 'PFP4040',
    severity: 'error',
    message: 'a prefetch block of {size} is not a power of two between 8 KiB and {limit}',
    hint: 'an aligned block holds whole pages and a power of two of them, e.g. `prefetch block 64 KiB` (16 pages)',
  },

  // ---- PFP5xxx: control-flow paths and source paths ----
  unresolvedPath: {
    code: 'PFP5001',
    severity: 'error',
    message: 'a path through `on missing` of region `{region}` ends without resolving the fault',
    hint: 'every path needs exactly one of zero, fill, copy, sigbus, defer (add an `else`?)',
  },
  doubleResolution: {
    code: 'PFP5002',
    severity: 'error',
    message: 'a second resolving action on the same path',
    hint: 'this path already resolves the fault on line {line}',
  },
  repeatedModifier: {
    code: 'PFP5003',
    severity: 'error',
    message: '`{modifier}` twice on the same path',
    hint: 'first on line {line}',
  },
  notAllowedOnWrite: {
    code: 'PFP5004',
    severity: 'error',
    message: '`{statement}` is not allowed in `on write`',
    hint: '`on write` may hold: track dirty, notify, sigbus (and if/else)',
  },
  notAllowedOnMissing: {
    code: 'PFP5005',
    severity: 'error',
    message: '`{statement}` is not allowed in `on missing`',
    hint: 'write tracking belongs in `on write { track dirty }`',
  },
  emptyPath: { code: 'PFP5006', severity: 'error', message: 'source `{name}` has an empty path' },
  nulInPath: { code: 'PFP5007', severity: 'error', message: 'source `{name}` path contains a NUL character' },
  constantCondition: {
    code: 'PFP5008',
    severity: 'warning',
    message: 'condition is always {value}',
  },
  prefetchWithoutResolve: {
    code: 'PFP5009',
    severity: 'warning',
    message: '`prefetch` does nothing on a path that ends in `{action}`',
    hint: 'prefetch resolves neighbours only when the faulting page itself is resolved',
  },

  httpUrlScheme: {
    code: 'PFP5020',
    severity: 'error',
    message: 'source `{name}`: an http source takes an http:// URL, not {scheme}://',
  },
  httpUrlInvalid: {
    code: 'PFP5021',
    severity: 'error',
    message: 'source `{name}`: `{url}` cannot be fetched: {reason}',
    hint: 'write: source <id> = http "http://127.0.0.1:8080/heap.img"',
  },
  imageRuleRunTime: {
    code: 'PFP5030',
    severity: 'error',
    message: 'region `{region}` is planned before the restored process runs: its rules cannot test {what}',
    hint: 'decide with offset, page, address and sizes; faultc lazy-pages plans every page when it loads the images',
  },
  imageCopyOther: {
    code: 'PFP5031',
    severity: 'error',
    message: 'region `{region}` is taken from `{image}` and copies only from it, not from `{name}`',
  },
  criuCopyOutside: {
    code: 'PFP5032',
    severity: 'error',
    message: '`{name}` is a process image: only a region `in {name}` copies from it',
  },
  imageUnsupported: {
    code: 'PFP5033',
    severity: 'error',
    message: '{statement} is not available in a region taken from an image',
    hint: 'faultc lazy-pages resolves missing pages with copy, zero, fill or sigbus, and prefetches ahead',
  },

  // ---- PFP6xxx: engines ----
  deferOnUffd: {
    code: 'PFP6001',
    severity: 'warning',
    message: '`defer` on the uffd engine: the fault goes to the region\'s onDefer() handler, and maps a zero page without one',
    hint: 'the uffd engine counts these faults as deferred and reports the action as defer; the kernel engine hands them to user space',
  },
  traceObservesOnly: {
    code: 'PFP6002',
    severity: 'warning',
    message: 'the trace engine observes faults only: `{statement}` is not applied',
    hint: 'run with the kernel or uffd engine to resolve faults',
  },
  traceNoNotify: {
    code: 'PFP6003',
    severity: 'warning',
    message: 'policy `{policy}` has no `notify`: the trace engine will only count faults',
  },
  imageNotify: {
    code: 'PFP6010',
    severity: 'warning',
    message: '`notify` in region `{region}` taken from an image: faultc lazy-pages reports counts per task, not events',
  },
  // ---- PFP9xxx: code generation and build ----
  // Checked input never reaches PFP9001/PFP9004: they are faultc's own bugs,
  // reported with what the C compiler said. PFP9002/9003 are the user's.
  ccFailed: {
    code: 'PFP9001',
    severity: 'error',
    message: 'internal error: the C compiler rejected generated code ({file})',
    hint: 'this is a faultc bug; please report it with the policy and this output',
  },
  noSuchPolicy: {
    code: 'PFP9002',
    severity: 'error',
    message: 'no policy named `{name}` in this file (it has: {names})',
    fileLevel: true,
  },
  writeFailed: {
    code: 'PFP9003',
    severity: 'error',
    message: 'cannot write the output: {reason}',
    fileLevel: true,
  },
  emitRefused: {
    code: 'PFP9004',
    severity: 'error',
    message: 'internal error: code generation refused the checked policy: {reason}',
    hint: 'this is a faultc bug; please report it with the policy',
  },
  ccMissing: {
    code: 'PFP9005',
    severity: 'error',
    message: 'the C compiler `{command}` is not installed: building {what} needs it',
    hint: '{install}, or name another compiler with {variable}',
    fileLevel: true,
  },
} as const satisfies Record<string, CodeEntry>;

export type CodeName = keyof typeof CODES;
export type DiagArgs = Record<string, string | number | bigint>;

function fill(template: string, args: DiagArgs): string {
  return template.replace(/\{(\w+)\}/g, (whole, key: string) => {
    const v = args[key];
    return v === undefined ? whole : String(v);
  });
}

/** Builds a diagnostic from the table. `hint` replaces the table's hint when given. */
export function diag(name: CodeName, span: Span, args: DiagArgs = {}, hint?: string): Diagnostic {
  const entry: CodeEntry = CODES[name];
  const d: Diagnostic = {
    code: entry.code,
    severity: entry.severity,
    message: fill(entry.message, args),
    span,
  };
  const h = hint ?? (entry.hint === undefined ? undefined : fill(entry.hint, args));
  if (h !== undefined) d.hint = h;
  return d;
}

/** Adds another place the diagnostic refers to (shown by editors as related information). */
export function withRelated(d: Diagnostic, span: Span, message: string): Diagnostic {
  (d.related ??= []).push({ message, span });
  return d;
}

/** True for a diagnostic about the file or the command as a whole (its span points at nothing). */
export function isFileLevel(d: Diagnostic): boolean {
  return FILE_LEVEL.has(d.code);
}

const FILE_LEVEL: ReadonlySet<string> = new Set(
  Object.values(CODES as Record<string, CodeEntry>)
    .filter((e) => e.fileLevel === true)
    .map((e) => e.code),
);

/** Every code in the table, for documentation and tests. */
export function allCodes(): { name: CodeName; code: string; severity: Severity; message: string; hint?: string }[] {
  return (Object.keys(CODES) as CodeName[]).map((name) => ({ name, ...(CODES[name] as CodeEntry) }));
}
