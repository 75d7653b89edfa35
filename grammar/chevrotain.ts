// chevrotain's package entry loads its sources module by module, several
// hundred files with its dependencies; its own single-file bundle holds the
// same API and loads in a few milliseconds, which is most of a `faultc check`.
// The package's export map does not name the bundle, so it is found beside the
// entry point; if it is ever missing, the ordinary entry is used.
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

type Chevrotain = typeof import('chevrotain');

async function load(): Promise<Chevrotain> {
  try {
    const entry = createRequire(import.meta.url).resolve('chevrotain');
    const bundle = path.join(path.dirname(entry), '..', 'chevrotain.min.mjs');
    return (await import(pathToFileURL(bundle).href)) as Chevrotain;
  } catch {
    return await import('chevrotain');
  }
}

const chevrotain = await load();

export const { createToken, Lexer, EmbeddedActionsParser, EOF } = chevrotain;
