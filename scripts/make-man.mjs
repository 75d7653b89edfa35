#!/usr/bin/env node
// Writes man/faultc.1 (from the program's commands and help texts),
// man/faultc-pfp.5 (from docs/language.md) and completion/faultc.bash (the
// program's commands and options), after `tsc`. `--check` exits 1 when the
// committed files differ from what the sources make now.
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

const root = join(import.meta.dirname, '..');
const { makeProgram } = await import(join(root, 'dist', 'runtime', 'commands', 'index.js'));
const { faultcManPage, languageManPage } = await import(join(root, 'dist', 'runtime', 'man.js'));
const { bashCompletion } = await import(join(root, 'dist', 'runtime', 'commands', 'completion.js'));
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const program = await makeProgram();
const files = {
  'man/faultc.1': faultcManPage(program, version),
  'man/faultc-pfp.5': languageManPage(readFileSync(join(root, 'docs', 'language.md'), 'utf8'), version),
  'completion/faultc.bash': bashCompletion(program),
};
if (process.argv.includes('--check')) {
  const stale = Object.entries(files).filter(([f, text]) => !existsSync(join(root, f)) || readFileSync(join(root, f), 'utf8') !== text);
  for (const [f] of stale) console.error(`${f} is out of date: run node scripts/make-man.mjs`);
  process.exit(stale.length ? 1 : 0);
}
for (const [f, text] of Object.entries(files)) {
  mkdirSync(dirname(join(root, f)), { recursive: true });
  writeFileSync(join(root, f), text);
}
