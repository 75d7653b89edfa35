// Verifier logs mapped back to source: BTF line info makes the kernel's log
// carry `; <source text> @ <file>:<line>` comments, and the generated C's
// #line directives make <file> the .pfp. This module finds those places and
// shows the .pfp (or C) lines they name.
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join } from 'node:path';
import { bpfNative, type VerifyOutcome } from './native.js';

export interface SourcePlace {
  file: string;
  line: number;
  /** Source text the log itself carries (empty when clang could not read the file). */
  logText: string;
}

/** Every `; text @ file:line` comment in log order. */
export function logPlaces(log: string): SourcePlace[] {
  const out: SourcePlace[] = [];
  for (const raw of log.split('\n')) {
    const m = /^;\s?(.*?)\s*@\s*(\S+):(\d+)\s*$/.exec(raw);
    if (m) out.push({ file: m[2]!, line: Number(m[3]), logText: m[1]!.trim() });
  }
  return out;
}

/** The verdict: the last lines of the log, without the state dumps before them. */
export function logVerdict(log: string, maxLines = 12): string[] {
  const lines = log.split('\n').map((l) => l.trimEnd()).filter((l) => l !== '');
  // The rejection message is the last line before the statistics, if any.
  let end = lines.length;
  while (end > 0 && /^(processed \d+ insns|verification time|stack depth|-- verifier log)/.test(lines[end - 1]!)) end--;
  return lines.slice(Math.max(0, end - maxLines), end);
}

/** The line the verifier stopped at: the last source place in the log. */
export function failingPlace(log: string): SourcePlace | undefined {
  const places = logPlaces(log);
  return places[places.length - 1];
}

/**
 * Reads a named source line. `file` as the log gives it (often a bare name);
 * looked up as given, then in each folder of `searchDirs`.
 */
export function sourceLine(file: string, line: number, searchDirs: string[]): { path: string; text: string } | undefined {
  const candidates = isAbsolute(file) ? [file] : searchDirs.map((d) => join(d, file));
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    try {
      const text = readFileSync(path, 'utf8').split('\n')[line - 1];
      if (text !== undefined) return { path, text };
    } catch {
      /* unreadable: try the next */
    }
  }
  return undefined;
}

export interface ObjectVerdict {
  object: string;
  outcome: VerifyOutcome;
  place?: SourcePlace & { path?: string; text?: string };
  /** Distinct source places leading to the failure, oldest first (up to 5). */
  trail: (SourcePlace & { path?: string; text?: string })[];
}

/** Loads an object into the verifier (nothing is attached) and maps a rejection to source. */
export function verifyObject(object: string, searchDirs: string[]): ObjectVerdict {
  const outcome = bpfNative().verify(object);
  const dirs = [...searchDirs, dirname(object), process.cwd()];
  const verdict: ObjectVerdict = { object, outcome, trail: [] };
  if (outcome.ok) return verdict;
  const places = logPlaces(outcome.log);
  const seen = new Set<string>();
  const trail: ObjectVerdict['trail'] = [];
  for (let i = places.length - 1; i >= 0 && trail.length < 5; i--) {
    const p = places[i]!;
    if (p.line === 0) continue; // compiler-made code with no source line
    const key = `${p.file}:${p.line}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const src = sourceLine(p.file, p.line, dirs);
    trail.unshift({ ...p, ...(src ? { path: src.path, text: src.text } : {}) });
  }
  verdict.trail = trail;
  const last = trail[trail.length - 1];
  if (last) verdict.place = last;
  return verdict;
}

/** Human-readable report of one verdict. */
export function formatVerdict(v: ObjectVerdict): string {
  const name = basename(v.object);
  if (v.outcome.ok) {
    const progs = v.outcome.programs.map((p) => `${p.name} ${p.verifiedInsns} insns`).join(', ');
    return `${name}: accepted by the kernel verifier (${progs})\n`;
  }
  const lines = [`${name}: REJECTED by the kernel verifier (${v.outcome.errno ? `errno ${v.outcome.errno}` : 'error'})`];
  for (const l of logVerdict(v.outcome.log)) lines.push(`  | ${l}`);
  if (v.place) {
    const where = `${v.place.path ?? v.place.file}:${v.place.line}`;
    lines.push(`  at ${where}`);
    const text = v.place.text ?? v.place.logText;
    if (text) lines.push(`  ${String(v.place.line).padStart(5)} | ${text}`);
    if (v.trail.length > 1) {
      lines.push('  reached through:');
      for (const t of v.trail.slice(0, -1)) lines.push(`    ${t.file}:${t.line}  ${(t.text ?? t.logText).trim()}`);
    }
  } else {
    lines.push('  (the log names no source line: was the object built with -g?)');
  }
  return lines.join('\n') + '\n';
}
