// Source paths: not empty, no NUL, and resolved against the .pfp file's folder
// (the runtime may still override any source's path at load time).
import path from 'node:path';
import type { SourceAst } from '../grammar/ast.js';
import { diag } from '../base/codes.js';
import type { Diagnostic } from '../base/diagnostic.js';

/** The absolute path a source reads, or undefined after reporting why it has none. */
export function resolveSourcePath(s: SourceAst, pfpFile: string, out: Diagnostic[]): string | undefined {
  const p = s.path.value;
  if (p.length === 0) {
    out.push(diag('emptyPath', s.path.span, { name: s.name.name }));
    return undefined;
  }
  if (p.includes('\0')) {
    out.push(diag('nulInPath', s.path.span, { name: s.name.name }));
    return undefined;
  }
  return path.resolve(path.dirname(path.resolve(pfpFile)), p);
}
