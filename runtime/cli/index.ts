// The faultc program: its commands (each in its own module, loaded only when
// named) and global options. runtime/cli.ts parses the command line with it;
// the man page and the shell completion are generated from it.
import { Command } from 'commander';

type Register = (program: Command) => void;

// Only the named command's module is loaded (the native addon and the code
// generators are not needed to check a file); help loads them all.
export const COMMANDS: Record<string, () => Promise<Register>> = {
  check: async () => (await import('./check.js')).registerCheck,
  compile: async () => (await import('./compile.js')).registerCompile,
  explain: async () => (await import('./explain.js')).registerExplain,
  verify: async () => (await import('./verify.js')).registerVerify,
  run: async () => (await import('./run.js')).registerRun,
  trace: async () => (await import('./trace.js')).registerTrace,
  features: async () => (await import('./features.js')).registerFeatures,
  // completion prints the whole program: it is handed makeProgram rather than importing this file.
  completion: async () => {
    const { registerCompletion } = await import('./completion.js');
    return (program) => registerCompletion(program, makeProgram);
  },
  fmt: async () => (await import('./fmt.js')).registerFmt,
  lsp: async () => (await import('./lsp.js')).registerLsp,
  'lazy-pages': async () => (await import('./lazy-pages.js')).registerLazyPages,
  guard: async () => (await import('./guard.js')).registerGuard,
};

/** The program with the named commands (all by default) registered. */
export async function makeProgram(names: string[] = Object.keys(COMMANDS)): Promise<Command> {
  const program = new Command();
  program
    .name('faultc')
    .description('Declarative page-fault policies: compile .pfp files to eBPF and run them')
    .option('-V, --version', 'print the versions of faultc, its addon, libbpf and the kernel hook')
    .option('-v, --verbose', "libbpf's debug log and the engines' debug messages on stderr")
    .showHelpAfterError();
  for (const name of names) {
    const load = COMMANDS[name];
    if (load) (await load())(program);
  }
  return program;
}
