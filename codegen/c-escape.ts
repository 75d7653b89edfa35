// The one place where text from a policy reaches generated C. Everything that
// codegen writes into C that did not come from codegen itself goes through here:
// names become prefixed, validated identifiers; paths and names become escaped
// string literals or comment-safe text; numbers become unsigned hex literals.
import { RuntimeError } from '../base/errors.js';
import { U64_MAX } from '../base/limits.js';

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Longest identifier part accepted: keeps generated names well inside C limits. */
const MAX_IDENT = 200;

/** Text codegen refuses to put into C: the run-time error with a FAULTC_CG_* code. */
export class CEscapeError extends RuntimeError {
  constructor(code: 'FAULTC_CG_IDENT' | 'FAULTC_CG_INT', message: string) {
    super(code, message);
    this.name = 'CEscapeError';
  }
}

/** True when `name` may be used as part of a C identifier. */
export function isSafeIdent(name: string): boolean {
  return name.length > 0 && name.length <= MAX_IDENT && IDENT.test(name);
}

/**
 * A C identifier made from a policy name: `faultc_<part>_<name>`. The prefix keeps
 * it apart from C keywords, libc and libbpf names; the check keeps anything but
 * identifier characters out. Checked input never fails this; it is a last guard.
 */
export function cIdent(part: string, name: string): string {
  if (!isSafeIdent(part) || !isSafeIdent(name)) {
    throw new CEscapeError('FAULTC_CG_IDENT', `not a valid identifier for C: ${JSON.stringify(name)}`);
  }
  return `faultc_${part}_${name}`;
}

/**
 * A C enumerator for a name in a policy: `FAULTC_<PART>_<policy>_<name>`.
 * The policy keeps the decision headers of several policies apart in one
 * translation unit; names keep their case (as in cGuard).
 */
export function cEnumerator(part: string, policy: string, name: string): string {
  cIdent(part, policy); // validates both
  cIdent(part, name);
  return `FAULTC_${part.toUpperCase()}_${policy}_${name}`;
}

/**
 * An include-guard macro name for a policy: FAULTC_<PART>_<name>_H. The name keeps
 * its case, so policies `a` and `A` (distinct files) get distinct guards.
 */
export function cGuard(part: string, name: string): string {
  cIdent(part, name); // validates both
  return `FAULTC_${part.toUpperCase()}_${name}_H`;
}

/**
 * A C string literal holding `text`. Only printable ASCII other than `"`, `\` and
 * `?` (trigraphs) passes through; everything else, including every byte of
 * non-ASCII UTF-8, becomes a three-digit octal escape, so no input can end the
 * literal, continue a line or form a trigraph.
 */
export function cString(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  let out = '"';
  for (const b of bytes) {
    if (b >= 0x20 && b < 0x7f && b !== 0x22 && b !== 0x5c && b !== 0x3f) out += String.fromCharCode(b);
    else out += '\\' + b.toString(8).padStart(3, '0');
  }
  return out + '"';
}

/**
 * Text safe inside a C block comment on one line: printable ASCII only, with any
 * `*` `/` pair broken so the comment cannot end early, and no backslash (which
 * could splice lines) or trigraph.
 */
export function cComment(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0) ?? 0;
    out += c >= 0x20 && c < 0x7f && ch !== '\\' && ch !== '?' ? ch : '_';
  }
  return out.replace(/\*\//g, '*_/').replace(/\/\*/g, '/_*');
}

/** An unsigned 64-bit C literal: 0x...ULL. Values outside 0..2^64-1 are refused. */
export function cU64(value: bigint): string {
  if (value < 0n || value > U64_MAX) {
    throw new CEscapeError('FAULTC_CG_INT', `integer out of 64-bit range: ${value}`);
  }
  return `0x${value.toString(16)}ULL`;
}

/** A small unsigned C literal (indexes, counts, bytes): decimal followed by U. */
export function cU32(value: number): string {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new CEscapeError('FAULTC_CG_INT', `integer out of 32-bit range: ${value}`);
  }
  return `${value}U`;
}

/** A `#line` directive naming a line of the .pfp file (the name escaped). */
export function cLine(line: number, file: string): string {
  if (!Number.isInteger(line) || line < 1 || line > 2147483647) {
    throw new CEscapeError('FAULTC_CG_INT', `line number out of range: ${line}`);
  }
  return `#line ${line} ${cString(file)}`;
}
