#!/usr/bin/env node
// The faultc command line: each subcommand lives in runtime/commands/.
// Exit codes: 0 success, 1 the input has errors (diagnostics printed),
// 2 usage error, 3 missing privilege or kernel feature, 4 internal or I/O failure.
import { Command } from 'commander';

type Register = (program: Command) => void;

// Only the named command's module is loaded (the native addon and the code
// generators are not needed to check a file); help loads them all.
const COMMANDS: Record<string, () => Promise<Register>> = {
  check: async () => (await import('./commands/check.js')).registerCheck,
  compile: async () => (await import('./commands/compile.js')).registerCompile,
  explain: async () => (await import('./commands/explain.js')).registerExplain,
  verify: async () => (await import('./commands/verify.js')).registerVerify,
  run: async () => (await import('./commands/run.js')).registerRun,
  trace: async () => (await import('./commands/trace.js')).registerTrace,
  guard: async () => (await import('./commands/guard.js')).registerGuard,
};

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

const named = process.argv[2];
const wanted = named !== undefined && named in COMMANDS ? [named] : Object.keys(COMMANDS);
for (const name of wanted) {
  const load = COMMANDS[name];
  if (load) (await load())(program);
}

await program.parseAsync(process.argv);
