// `faultc check <file...> [--json] [--engine E] [--list-codes]`: diagnostics only, no output files.
// Exit status: 0 no errors (warnings allowed), 1 errors, 2 usage, 4 a file could not be read or an internal error.
import type { Command } from 'commander';
import { readInputText } from '../../compiler/files.js';
import { allCodes, CODES } from '../../base/codes.js';
import type { Diagnostic } from '../../base/diagnostic.js';
import { formatDiagnostics, useColor, displayPath } from '../../base/format.js';
import { checkFile } from '../../compiler/index.js';
import { ENGINE_NAMES as ENGINES, type EngineName } from '../../compiler/ir.js';
import { allRuntimeCodes, EXIT } from '../../base/errors.js';

interface CheckFlags {
  json?: boolean;
  engine?: string;
  listCodes?: boolean;
}

/** The compiler's diagnostic codes (base/codes.ts), then the run-time error codes with their exit status (base/errors.ts). */
function listCodes(json: boolean): void {
  const codes = allCodes();
  const runtime = allRuntimeCodes().map((c) => ({ ...c, severity: c.exit === EXIT.ok ? 'warning' : 'error' }));
  if (json) {
    process.stdout.write(JSON.stringify([...codes, ...runtime], null, 2) + '\n');
    return;
  }
  const hint = (h: string | undefined, indent: number) => (h ? `\n${' '.repeat(indent)}hint: ${h}` : '');
  const lines = codes.map((c) => `${c.code}  ${c.severity.padEnd(7)}  ${c.message}${hint(c.hint, 18)}`);
  const width = Math.max(...runtime.map((c) => c.code.length));
  lines.push('', 'Run-time errors (FAULTC_*), with the exit status every command gives them:');
  for (const c of runtime) lines.push(`${c.code.padEnd(width)}  exit ${c.exit}  ${c.message}${hint(c.hint, width + 10)}`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** One diagnostic as `--json` prints it: the Diagnostic fields, with the span flattened for scripts. */
export function diagnosticJson(d: Diagnostic): Record<string, unknown> {
  return {
    code: d.code,
    severity: d.severity,
    message: d.message,
    ...(d.hint === undefined ? {} : { hint: d.hint }),
    ...(d.suggestion === undefined ? {} : { suggestion: d.suggestion }),
    ...(d.related === undefined ? {} : { related: d.related }),
    file: d.span.file,
    line: d.span.startLine,
    column: d.span.startColumn,
    endLine: d.span.endLine,
    endColumn: d.span.endColumn,
    span: d.span,
  };
}

/** The line under several files: `3 files: 2 with errors; 4 errors, 1 warning`. */
export function totalLine(files: number, all: Diagnostic[]): string {
  const perFile = new Map<string, boolean>();
  for (const d of all) if (d.severity === 'error') perFile.set(d.span.file, true);
  const errors = all.filter((d) => d.severity === 'error').length;
  const warnings = all.length - errors;
  const n = (k: number, word: string): string => `${k} ${word}${k === 1 ? '' : 's'}`;
  return `${n(files, 'file')} checked: ${perFile.size === 0 ? 'all ok' : `${perFile.size} with errors`}; ${n(errors, 'error')}, ${n(warnings, 'warning')} in all`;
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('check .pfp files and print their diagnostics; writes nothing')
    .argument('[files...]', '.pfp policy files')
    .option('--json', 'print the diagnostics as a JSON array on stdout')
    .option('--engine <engine>', `also warn about running on this engine (${ENGINES.join(', ')})`)
    .option('--list-codes', 'print every diagnostic code (severity, message, hint) and every run-time error code (exit status), and exit')
    .addHelpText('after', '\nExit status: 0 no errors (warnings allowed), 1 errors, 2 usage error, 4 a file could not be read or an internal error.\nNO_COLOR=1 (or output that is not a terminal) prints without colour.')
    .action(async (files: string[], flags: CheckFlags) => {
      if (flags.listCodes) {
        listCodes(flags.json === true);
        return;
      }
      if (files.length === 0) {
        process.stderr.write('faultc check: name at least one .pfp file\n');
        process.exit(EXIT.usage);
      }
      if (flags.engine !== undefined && !(ENGINES as readonly string[]).includes(flags.engine)) {
        process.stderr.write(`faultc check: unknown engine '${flags.engine}' (choose from ${ENGINES.join(', ')})\n`);
        process.exit(EXIT.usage);
      }
      const all: Diagnostic[] = [];
      let errors = false;
      let unreadable = false;
      for (const file of files) {
        let r: Awaited<ReturnType<typeof checkFile>>;
        try {
          r = await checkFile(file, flags.engine ? { engine: flags.engine as EngineName } : {});
        } catch (err) {
          // The checker returns every problem with the input as a diagnostic: an exception is a bug of faultc's own.
          process.stderr.write(`faultc check: internal error on ${file}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
          process.exitCode = EXIT.internal;
          return;
        }
        all.push(...r.diagnostics);
        if (!r.ok) errors = true;
        if (r.diagnostics.some((d) => d.code === CODES.cannotRead.code)) unreadable = true;
        if (flags.json) continue;
        if (r.diagnostics.length > 0) {
          const text = await readInputText(file);
          process.stderr.write(formatDiagnostics(r.diagnostics, text, { color: useColor(process.stderr) }) + '\n');
        }
        if (r.ok) {
          const names = r.value.policies.map((p) => `${p.name} (${p.regions.length} region${p.regions.length === 1 ? '' : 's'})`);
          process.stdout.write(`${displayPath(r.value.file)}: ok: ${names.join(', ')}\n`);
        }
      }
      if (flags.json) process.stdout.write(JSON.stringify(all.map(diagnosticJson), null, 2) + '\n');
      else if (files.length > 1) process.stderr.write(totalLine(files.length, all) + '\n');
      process.exitCode = unreadable ? 4 : errors ? 1 : 0;
    });
}
