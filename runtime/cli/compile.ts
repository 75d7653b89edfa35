// `faultc compile <file> [-o dir] [--emit c,obj,json] [--policy P] [--json]`
import type { Command } from 'commander';
import { readInputText } from '../../compiler/files.js';
import type { Diagnostic } from '../../base/diagnostic.js';
import { CODES } from '../../base/codes.js';
import { formatDiagnostics, useColor } from '../../base/format.js';
import { compileFile, EMIT_KINDS, type EmitKind } from '../../codegen/build.js';
import { INTERNAL_CODES, MISSING_TOOL_CODES } from '../../codegen/codes.js';
import { diagnosticJson } from './check.js';
import { EXIT } from '../../base/errors.js';

export const DEFAULT_OUT_DIR = 'out';

interface CompileFlags {
  outDir: string;
  emit: string;
  policy?: string;
  json?: boolean;
}

function parseEmit(list: string): EmitKind[] | string {
  const kinds = list
    .split(',')
    .map((k) => k.trim())
    .filter((k) => k !== '');
  for (const k of kinds) {
    if (!(EMIT_KINDS as readonly string[]).includes(k)) return `unknown --emit kind '${k}' (choose from ${EMIT_KINDS.join(', ')})`;
  }
  return kinds.length > 0 ? (kinds as EmitKind[]) : `--emit needs at least one of ${EMIT_KINDS.join(', ')}`;
}

async function printDiagnostics(file: string, diagnostics: Diagnostic[]): Promise<void> {
  if (diagnostics.length === 0) return;
  const text = await readInputText(file);
  process.stderr.write(formatDiagnostics(diagnostics, text, { color: useColor(process.stderr) }) + '\n');
}

/** Exit status: 4 when faultc itself or the file system failed, 3 when the machine lacks a compiler, 2 for a policy the file does not have, 1 for errors in the policy. */
function exitStatus(ok: boolean, diagnostics: Diagnostic[]): number {
  if (ok) return 0;
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.some((d) => INTERNAL_CODES.has(d.code) || d.code === CODES.cannotRead.code)) return 4;
  if (errors.some((d) => MISSING_TOOL_CODES.has(d.code))) return 3;
  if (errors.some((d) => d.code === CODES.noSuchPolicy.code)) return 2;
  return 1;
}

export function registerCompile(program: Command): void {
  program
    .command('compile')
    .description('check a .pfp file and write its C, BPF objects, host decision library and manifest')
    .argument('<file>', 'the .pfp policy file')
    .option('-o, --out-dir <dir>', 'folder for the outputs (created if missing)', DEFAULT_OUT_DIR)
    .option('--emit <kinds>', `what to write, comma-separated: c (decide.h, abi.h, *.bpf.c), obj (*.bpf.o, decide.so), json (policy.json)`, EMIT_KINDS.join(','))
    .option('--policy <name>', 'compile only this policy of the file')
    .option('--json', 'print the result and diagnostics as JSON on stdout')
    .addHelpText(
      'after',
      `
Each policy P in the file gives, in the output folder (default ./${DEFAULT_OUT_DIR}):
  P.decide.h  P.abi.h  P.trace.bpf.c  P.fault.bpf.c      (--emit c)
  P.trace.bpf.o  P.fault.bpf.o  P.decide.so              (--emit obj)
  P.policy.json  the manifest that names all of them     (--emit json)
Files are written only when everything succeeds; on an error nothing is written.
Exit status: 0 compiled, 1 the policy has errors, 2 usage error (or no policy of
that --policy name), 3 the C compiler is not installed, 4 internal or I/O error.
NO_COLOR=1 (or output that is not a terminal) prints without colour.
`,
    )
    .action(async (file: string, flags: CompileFlags) => {
      const emit = parseEmit(flags.emit);
      if (typeof emit === 'string') {
        process.stderr.write(`faultc compile: ${emit}\n`);
        process.exit(EXIT.usage);
      }
      const opts: { outDir: string; emit: EmitKind[]; policy?: string } = { outDir: flags.outDir, emit };
      if (flags.policy !== undefined) opts.policy = flags.policy;
      const r = await compileFile(file, opts);
      if (flags.json) {
        const out = r.ok
          ? {
              ok: true,
              policies: r.value.map((p) => ({ policy: p.policy, manifest: p.manifest, files: p.files })),
              diagnostics: r.diagnostics.map(diagnosticJson),
            }
          : { ok: false, diagnostics: r.diagnostics.map(diagnosticJson) };
        process.stdout.write(JSON.stringify(out, null, 2) + '\n');
      } else {
        await printDiagnostics(file, r.diagnostics);
        if (r.ok) for (const p of r.value) for (const f of p.files) process.stdout.write(f + '\n');
      }
      process.exitCode = exitStatus(r.ok, r.diagnostics);
    });
}
