// `faultc lsp [--stdio]`: the language server on standard input and output
// (runtime/lsp/). Nothing else may write to stdout while it runs.
import type { Command } from 'commander';

export function registerLsp(program: Command): void {
  program
    .command('lsp')
    .description('run the .pfp language server over stdin/stdout (for editors)')
    .option('--stdio', 'talk over stdin/stdout (the default and only transport)')
    .action(async () => {
      const { startServer } = await import('../lsp/server.js');
      // The server ends on the client's `exit` notification or when stdin closes.
      startServer();
    });
}
