// The compiler's front door: text (or a file) in, checked IR or diagnostics out.
// Never throws for any input; I/O failures become diagnostics too.
import { createHash } from 'node:crypto';
import path from 'node:path';
import type { IToken } from 'chevrotain';
import { parse, type FileAst } from '../grammar/index.js';
import { SourceText } from '../base/source-text.js';
import { checkAst } from './check.js';
import { diag } from '../base/codes.js';
import type { Diagnostic, Result } from '../base/diagnostic.js';
import { engineWarnings } from './engines.js';
import type { EngineName, ProgramIR } from './ir.js';
import { fileErrorReason, readInputFile } from './files.js';
import { MAX_DIAGNOSTICS, MAX_INPUT_BYTES } from '../base/limits.js';

export type { Diagnostic, Result } from '../base/diagnostic.js';
export * from './ir.js';

export interface CheckOptions {
  /** Adds the warnings about running on this engine (PFP6xxx). */
  engine?: EngineName;
  /** sha256 of the file's bytes, when the caller read them (checkFile). */
  sourceHash?: string;
}

function byPosition(a: Diagnostic, b: Diagnostic): number {
  return a.span.startOffset - b.span.startOffset || a.span.endOffset - b.span.endOffset;
}

/** Caps the list at MAX_DIAGNOSTICS, summarising the rest in one PFP1011. */
function capped(list: Diagnostic[]): Diagnostic[] {
  const sorted = [...list].sort(byPosition);
  if (sorted.length <= MAX_DIAGNOSTICS) return sorted;
  const kept = sorted.slice(0, MAX_DIAGNOSTICS);
  kept.push(diag('tooManyDiagnostics', sorted[MAX_DIAGNOSTICS]!.span, { limit: MAX_DIAGNOSTICS }));
  return kept;
}

export function checkSource(text: string, file: string, options: CheckOptions = {}): Result<ProgramIR> {
  return analyzeSource(text, file, options).result;
}

/** What an editor needs besides the result: the syntax tree (recovered where the text has errors) and the tokens. */
export interface Analysis {
  result: Result<ProgramIR>;
  ast: FileAst;
  tokens: IToken[];
}

export function analyzeSource(text: string, file: string, options: CheckOptions = {}): Analysis {
  const absFile = path.resolve(file);
  const parsed = parse(text, absFile);
  const done = (result: Result<ProgramIR>): Analysis => ({ result, ast: parsed.ast, tokens: parsed.tokens });
  const diagnostics = [...parsed.diagnostics];
  if (diagnostics.some((d) => d.severity === 'error')) return done({ ok: false, diagnostics: capped(diagnostics) });

  const policies = checkAst(parsed.ast, diagnostics);
  if (diagnostics.some((d) => d.severity === 'error')) return done({ ok: false, diagnostics: capped(diagnostics) });

  if (options.engine) for (const p of policies) diagnostics.push(...engineWarnings(p, options.engine));
  const sourceHash = options.sourceHash ?? createHash('sha256').update(text, 'utf8').digest('hex');
  return done({ ok: true, value: { file: absFile, sourceHash, policies }, diagnostics: capped(diagnostics) });
}

export async function checkFile(file: string, options: CheckOptions = {}): Promise<Result<ProgramIR>> {
  const absFile = path.resolve(file);
  const empty = new SourceText('', absFile).span(0, 0);
  const read = await readInputFile(absFile);
  if ('tooLarge' in read) {
    return { ok: false, diagnostics: [diag('inputTooLarge', empty, { size: read.tooLarge, limit: MAX_INPUT_BYTES })] };
  }
  if (!read.ok) return { ok: false, diagnostics: [diag('cannotRead', empty, { path: file, reason: fileErrorReason(read.reason) })] };
  const bytes = read.bytes;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return { ok: false, diagnostics: [diag('notUtf8', empty)] };
  }
  const sourceHash = createHash('sha256').update(bytes).digest('hex');
  return checkSource(text, absFile, { ...options, sourceHash });
}
