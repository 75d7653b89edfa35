#!/usr/bin/env node
// The faultc command line: each subcommand lives in runtime/cli/.
// Exit codes: 0 success, 1 the input has errors (diagnostics printed),
// 2 usage error, 3 missing privilege, kernel feature or tool, 4 internal or I/O failure
// (docs/cli-messages.md).
import { speakToCommandLine } from './api/wording.js';
import { COMMANDS, makeProgram } from './cli/index.js';

speakToCommandLine();

// `-v`/`--verbose` anywhere: libbpf's debug log and the engines' own (FAULTC_DEBUG),
// set before the addon loads. `--version`: the package, addon, libbpf and hook versions.
const argv = process.argv.filter((a, i) => i < 2 || (a !== '-v' && a !== '--verbose'));
if (argv.length !== process.argv.length) process.env['FAULTC_DEBUG'] = '1';
if (argv[2] === '--version' || argv[2] === '-V') {
  process.stdout.write((await import('./proc/features.js')).versionText() + '\n');
  process.exit(0);
}

const named = argv[2];
const program = await makeProgram(named !== undefined && named in COMMANDS ? [named] : undefined);
// Usage errors exit 2, in every command: commands registered before this
// do not inherit it, so each gets it too.
// After a usage error, a pointer to the help rather than all of it: the error stays in sight.
for (const c of [program, ...program.commands]) {
  const name = c === program ? 'faultc' : `faultc ${c.name()}`;
  // Commander's "error: " becomes the command's name, as faultc's own messages begin.
  c.configureOutput({ outputError: (str, write) => write(str.replace(/^error: /, `${name}: `)) }).exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });
  c.showHelpAfterError(`(${name} --help lists the ${c === program ? 'commands' : 'options'})`);
}

await program.parseAsync(argv);
