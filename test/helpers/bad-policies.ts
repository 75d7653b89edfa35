// The bad policies of the test suite, one problem each: the expected code,
// and `‸` marking where the diagnostic must start (removed before checking).
// test/compiler/diagnostics.test.ts checks the compiler's answer for each; the
// language server tests check that an editor gets the same diagnostics.

export const MARK = '‸';

export interface Case {
  name: string;
  code: string;
  text: string;
}

/** Line and column (1-based) of the marker, and the text without it. */
export function locate(marked: string): { text: string; line: number; column: number } {
  const at = marked.indexOf(MARK);
  if (at < 0 || marked.indexOf(MARK, at + 1) >= 0) throw new Error('a case needs exactly one marker');
  const text = marked.slice(0, at) + marked.slice(at + MARK.length);
  const before = text.slice(0, at);
  const line = before.split('\n').length;
  const column = at - (before.lastIndexOf('\n') + 1) + 1;
  return { text, line, column };
}

/** A policy with one region whose `on missing` body is `body`. */
export function missing(body: string, extra = ''): string {
  return `policy p {\n  source img = file "img.bin"\n${extra}  region r size 16 pages {\n    on missing { ${body} }\n  }\n}\n`;
}

const MANY_SOURCES = Array.from({ length: 9 }, (_, i) => `  source ${i === 8 ? MARK : ''}s${i} = file "s${i}"\n`).join('');
const MANY_SOURCES_USE = Array.from({ length: 8 }, (_, i) => `if offset == ${i} { copy s${i} } else `).join('') + '{ zero }';

export const cases: Case[] = [
  // PFP1xxx: lexical
  { name: 'unexpected character', code: 'PFP1001', text: `policy p {\n  ${MARK}@\n}` },
  { name: 'unterminated string', code: 'PFP1002', text: `policy p {\n  source s = file ${MARK}"abc\n  region r size 1 page {}\n}` },
  { name: 'unknown escape', code: 'PFP1003', text: `policy p {\n  source s = file "a${MARK}\\tb"\n}` },
  { name: 'NUL inside a string', code: 'PFP1004', text: `policy p {\n  source s = file "a${MARK}\0b"\n}` },
  { name: 'doubled underscore in an integer', code: 'PFP1005', text: missing(`fill ${MARK}1__0`) },
  { name: 'hex without digits', code: 'PFP1005', text: missing(`fill ${MARK}0x`) },
  { name: 'hex with a non-hex letter', code: 'PFP1005', text: missing(`fill ${MARK}0xZZ`) },
  { name: 'trailing underscore', code: 'PFP1005', text: missing(`fill ${MARK}12_`) },
  { name: 'upper-case hex prefix', code: 'PFP1005', text: missing(`fill ${MARK}0XFF`) },
  { name: 'integer beyond 64 bits', code: 'PFP1006', text: missing(`fill ${MARK}0x1_0000_0000_0000_0000`) },
  { name: 'name too long', code: 'PFP1007', text: `policy ${MARK}${'a'.repeat(65)} {\n}` },
  // PFP2xxx: syntax
  { name: 'missing `size`', code: 'PFP2001', text: `policy p {\n  region r ${MARK}{ }\n}` },
  { name: 'keyword as a region name', code: 'PFP2002', text: `policy p {\n  region ${MARK}zero size 1 page { }\n}` },
  { name: 'keyword as a policy name', code: 'PFP2002', text: `policy ${MARK}offset { }` },
  { name: 'unexpected end of file', code: 'PFP2003', text: `policy p${MARK}` },
  { name: 'a block never closed', code: 'PFP2011', text: `policy p {\n  region r size 1 page ${MARK}{\n    on missing { zero }\n` },
  { name: 'unknown statement', code: 'PFP2004', text: missing(`${MARK}bogus`) },
  { name: 'resolving word misspelt', code: 'PFP2004', text: missing(`${MARK}sigsegv`) },
  { name: 'missing condition', code: 'PFP2005', text: missing(`if ${MARK}{ zero }`) },
  { name: 'dangling operator', code: 'PFP2005', text: missing(`if offset < ${MARK}} zero }`).replace('} zero }', '{ zero }') },
  { name: 'top level is not a policy', code: 'PFP2006', text: `${MARK}region r size 1 page { }` },
  { name: 'handler directly in a policy', code: 'PFP2007', text: `policy p {\n  ${MARK}on missing { zero }\n}` },
  { name: 'brackets nested past the bound', code: 'PFP2008', text: missing(`fill ${'('.repeat(61)}${MARK}(1${')'.repeat(62)}`) }, // 3 braces + 62 brackets
  {
    name: 'expression deeper than the bound',
    code: 'PFP2009',
    text: missing(`fill 0 ${Array.from({ length: 300 }, (_, i) => (i === 256 ? MARK : '') + '+ 0').join(' ')}`),
  },
  { name: 'chained comparison', code: 'PFP2010', text: missing(`if 1 < offset ${MARK}< 5 { zero } else { zero }`) },
  { name: '`=` for comparison', code: 'PFP2001', text: missing(`if offset ${MARK}= 0 { zero } else { zero }`) },
  { name: 'prefetch without `pages`', code: 'PFP2001', text: missing(`zero prefetch 16 ${MARK}notify`) },
  { name: 'copy without a source', code: 'PFP2001', text: missing(`copy ${MARK}; zero`) },
  { name: 'track without `dirty`', code: 'PFP2001', text: `policy p {\n  region r size 1 page {\n    on write { track ${MARK}}\n  }\n}` },
  // PFP3xxx: names
  { name: 'duplicate policy', code: 'PFP3001', text: `policy p { region r size 1 page {} }\npolicy ${MARK}p { region r size 1 page {} }` },
  { name: 'region named like a source', code: 'PFP3002', text: missing('copy img', `  region ${MARK}img size 1 page {}\n`) },
  { name: 'two regions of one name', code: 'PFP3002', text: `policy p {\n  region r size 1 page {}\n  region ${MARK}r size 2 pages {}\n}` },
  { name: 'two `on missing`', code: 'PFP3003', text: `policy p {\n  region r size 1 page {\n    on missing { zero }\n    ${MARK}on missing { sigbus }\n  }\n}` },
  { name: 'unknown handler', code: 'PFP3004', text: `policy p {\n  region r size 1 page {\n    on ${MARK}read { zero }\n  }\n}` },
  { name: 'copy from an unknown source', code: 'PFP3005', text: missing(`copy ${MARK}nope`) },
  { name: 'copy from a region', code: 'PFP3006', text: missing(`copy ${MARK}r`) },
  { name: '.size of an unknown name', code: 'PFP3007', text: missing(`if offset < ${MARK}nope.size { copy img } else { zero }`) },
  { name: 'an undeclared bare name', code: 'PFP3007', text: missing(`if offset < ${MARK}limit { copy img } else { zero }`) },
  { name: 'unknown property', code: 'PFP3008', text: missing(`if offset < img.${MARK}length { copy img } else { zero }`) },
  { name: 'a source used as a value', code: 'PFP3009', text: missing(`if ${MARK}img { copy img } else { zero }`) },
  { name: 'unknown source kind', code: 'PFP3010', text: `policy p {\n  source s = ${MARK}memory "x"\n  region r size 1 page { on missing { copy s } }\n}` },
  { name: 'nine sources', code: 'PFP3011', text: `policy p {\n${MANY_SOURCES}  region r size 16 pages { on missing { ${MANY_SOURCES_USE} } }\n}` },
  { name: 'policy without regions', code: 'PFP3013', text: `policy ${MARK}empty {\n}` },
  { name: 'size of a region declared later', code: 'PFP3014', text: `policy p {\n  region a size ${MARK}b.size { }\n  region b size 1 page { }\n}` },
  { name: 'file without policies', code: 'PFP3015', text: `${MARK}# nothing here\n` },
  { name: 'source size as a region size', code: 'PFP3017', text: `policy p {\n  source s = file "x"\n  region a size ${MARK}s.size { on missing { copy s } }\n}` },
  // PFP4xxx: values and units
  { name: 'unknown unit', code: 'PFP4001', text: `policy p {\n  region r size 16 ${MARK}MB { }\n}` },
  { name: 'size beyond 64 bits', code: 'PFP4002', text: `policy p {\n  region r size ${MARK}20000000 TiB { }\n}` },
  { name: 'constant division by zero', code: 'PFP4003', text: missing(`fill 4 / ${MARK}0`) },
  { name: 'constant remainder by zero', code: 'PFP4003', text: missing(`if offset % ${MARK}(4 - 4) { zero } else { zero }`) },
  { name: 'fill byte 256', code: 'PFP4004', text: missing(`fill ${MARK}256`) },
  { name: 'fill byte from the fault', code: 'PFP4005', text: missing(`fill ${MARK}offset & 0xff`) },
  { name: 'region size from the fault', code: 'PFP4006', text: `policy p {\n  region r size ${MARK}offset { }\n}` },
  { name: 'region address from the fault', code: 'PFP4006', text: `policy p {\n  region r size 1 page at ${MARK}address { }\n}` },
  { name: 'region size zero', code: 'PFP4007', text: `policy p {\n  region r size ${MARK}0 pages { }\n}` },
  { name: 'region size not whole pages', code: 'PFP4008', text: `policy p {\n  region r size ${MARK}100 B { }\n}` },
  { name: 'address not page-aligned', code: 'PFP4009', text: `policy p {\n  region r size 1 page at ${MARK}0x7000_0000_0010 { }\n}` },
  { name: 'region past the user address space', code: 'PFP4010', text: `policy p {\n  region r size 1 MiB at ${MARK}0x7fff_fff0_0000 { }\n}` },
  { name: 'region larger than the address space', code: 'PFP4011', text: `policy p {\n  region r size ${MARK}200 TiB { }\n}` },
  { name: 'prefetch 0 pages', code: 'PFP4012', text: missing(`zero prefetch ${MARK}0 pages`) },
  { name: 'prefetch 513 pages', code: 'PFP4012', text: missing(`zero prefetch ${MARK}513 pages ahead`) },
  { name: 'constant unaligned copy offset', code: 'PFP4013', text: missing(`copy img at ${MARK}100`) },
  {
    name: 'overlapping fixed regions',
    code: 'PFP4017',
    text: `policy p {\n  region a size 1 MiB at 0x7000_0000_0000 { }\n  region ${MARK}b size 1 page at 0x7000_000f_f000 { }\n}`,
  },
  // PFP5xxx: paths
  { name: 'if without else leaves a path unresolved', code: 'PFP5001', text: missing(`if ${MARK}offset < 4 KiB { zero }`) },
  { name: 'empty on missing', code: 'PFP5001', text: `policy p {\n  region r size 1 page {\n    ${MARK}on missing { notify }\n  }\n}` },
  { name: 'branch without action', code: 'PFP5001', text: missing(`if ${MARK}write { notify } else { zero }`) },
  { name: 'two actions in a row', code: 'PFP5002', text: missing(`zero ${MARK}sigbus`) },
  { name: 'action after an if that resolves', code: 'PFP5002', text: missing(`if write { zero } else { sigbus }\n ${MARK}defer`) },
  { name: 'prefetch twice on one path', code: 'PFP5003', text: missing(`prefetch 2 pages if read { zero ${MARK}prefetch 4 pages } else { zero }`) },
  { name: 'notify twice', code: 'PFP5003', text: missing(`zero; notify; ${MARK}notify`) },
  { name: 'track dirty twice', code: 'PFP5003', text: `policy p {\n  region r size 1 page {\n    on write { track dirty ${MARK}track dirty }\n  }\n}` },
  { name: 'copy in on write', code: 'PFP5004', text: `policy p {\n  source s = file "x"\n  region r size 1 page {\n    on missing { copy s }\n    on write { ${MARK}copy s }\n  }\n}` },
  { name: 'prefetch in on write', code: 'PFP5004', text: `policy p {\n  region r size 1 page {\n    on write { ${MARK}prefetch 1 page }\n  }\n}` },
  { name: 'track dirty in on missing', code: 'PFP5005', text: missing(`zero ${MARK}track dirty`) },
  { name: 'empty source path', code: 'PFP5006', text: `policy p {\n  source s = file ${MARK}""\n  region r size 1 page { on missing { copy s } }\n}` },
];
