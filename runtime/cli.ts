#!/usr/bin/env node
// The faultc command line: each subcommand lives in runtime/commands/.
// Exit codes: 0 success, 1 the input has errors (diagnostics printed),
// 2 usage error, 3 missing privilege or kernel feature, 4 internal or I/O failure.
import { Command } from 'commander';
import { registerCheck } from './commands/check.js';
import { registerCompile } from './commands/compile.js';
import { registerExplain } from './commands/explain.js';
import { registerVerify } from './commands/verify.js';
import { registerRun } from './commands/run.js';
import { registerTrace } from './commands/trace.js';

const program = new Command();
program
  .name('faultc')
  .description('Declarative page-fault policies: compile .pfp files to eBPF and run them')
  .version('0.1.0')
  .showHelpAfterError()
  .configureOutput({ outputError: (str, write) => write(str) })
  .exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : 2);
  });

registerCheck(program);
registerCompile(program);
registerExplain(program);
registerVerify(program);
registerRun(program);
registerTrace(program);

await program.parseAsync(process.argv);
