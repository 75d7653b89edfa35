#!/usr/bin/env node
// Writes man/faultc.1 (from the program's commands and help texts),
// man/faultc-pfp.5 (from docs/language.md) and completion/faultc.bash (the
// program's commands and options), after `tsc`. They are build outputs, not
// committed: scripts/setup.sh and `npm pack` (prepack) make them.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const { makeProgram } = await import(join(root, 'dist', 'runtime', 'cli', 'index.js'));
const { faultcManPage, languageManPage } = await import(join(root, 'dist', 'runtime', 'cli', 'man.js'));
const { bashCompletion } = await import(join(root, 'dist', 'runtime', 'cli', 'completion.js'));
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const program = await makeProgram();
const files = {
  'man/faultc.1': faultcManPage(program, version),
  'man/faultc-pfp.5': languageManPage(readFileSync(join(root, 'docs', 'language.md'), 'utf8'), version),
  'completion/faultc.bash': bashCompletion(program),
};
// `--out DIR`: write there instead of the checkout (tests).
const at = process.argv.indexOf('--out');
const outRoot = at > 0 ? process.argv[at + 1] : root;
for (const [f, text] of Object.entries(files)) {
  mkdirSync(dirname(join(outRoot, f)), { recursive: true });
  writeFileSync(join(outRoot, f), text);
}
