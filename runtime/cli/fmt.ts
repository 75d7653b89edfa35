// `faultc fmt <file.pfp...> [--write] [--check]`: the canonical layout
// (runtime/lsp/format.ts). Prints the formatted text of one file; --write
// rewrites the files in place; --check only says which files would change.
// Exit status: 0 done (with --check: every file is formatted), 1 a file has
// syntax errors (or with --check: a file would change), 2 usage, 4 a file
// could not be read or written.
import { writeFile } from 'node:fs/promises';
import { fileErrorReason, readInputFile } from '../../compiler/files.js';
import type { Command } from 'commander';
import { formatDiagnostics, useColor, displayPath } from '../../base/format.js';
import { formatText } from '../lsp/format.js';
import { EXIT } from '../../base/errors.js';

interface FmtFlags {
  write?: boolean;
  check?: boolean;
}

export function registerFmt(program: Command): void {
  program
    .command('fmt')
    .description('print .pfp files in the canonical layout (or rewrite them with --write)')
    .argument('<files...>', '.pfp policy files')
    .option('-w, --write', 'rewrite the files in place')
    .option('--check', 'write nothing; list the files whose layout would change and exit 1 if any')
    .addHelpText('after', '\nExit status: 0 done, 1 a file has syntax errors (or, with --check, is not formatted), 2 usage error, 4 a file could not be read or written.')
    .action(async (files: string[], flags: FmtFlags) => {
      if (!flags.write && !flags.check && files.length > 1) {
        process.stderr.write('faultc fmt: printing takes one file; use --write or --check for several\n');
        process.exit(EXIT.usage);
      }
      let status = 0;
      for (const file of files) {
        // A regular file within the input limit, read without blocking (compiler/files.ts).
        const read = await readInputFile(file);
        if (!read.ok) {
          const why = 'tooLarge' in read ? `${read.tooLarge} bytes, more than a policy file may be` : read.reason;
          process.stderr.write(`faultc fmt: cannot read ${file}: ${why}\n`);
          status = 4;
          continue;
        }
        const text = read.bytes.toString('utf8');
        const r = formatText(text, file);
        if (!r.ok) {
          process.stderr.write(formatDiagnostics(r.diagnostics, text, { color: useColor(process.stderr) }) + '\n');
          status = Math.max(status, 1);
          continue;
        }
        if (flags.check) {
          if (r.text !== text) {
            process.stdout.write(`${displayPath(file)}\n`);
            status = Math.max(status, 1);
          }
        } else if (flags.write) {
          if (r.text === text) continue;
          try {
            await writeFile(file, r.text);
          } catch (e) {
            process.stderr.write(`faultc fmt: cannot write ${file}: ${fileErrorReason(e)}\n`);
            status = 4;
          }
        } else process.stdout.write(r.text);
      }
      process.exitCode = status;
    });
}
