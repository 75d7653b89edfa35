// Messages name options the way the reader sets them: the library's callers
// read `engine: 'uffd'`, the command line's users read `--engine uffd`. The
// command line says once, at start, that it is the one speaking.
let commandLine = false;

/** Called by the faultc command before anything runs: messages then name its flags. */
export function speakToCommandLine(): void {
  commandLine = true;
}

/** How a reader sets an option: `--flag` or `--flag value` on the command line, `name: value` in the API. */
export function optionWords(api: { name: string; value?: string }, cli: { flag: string; value?: string }): string {
  if (commandLine) return cli.value === undefined ? cli.flag : `${cli.flag} ${cli.value}`;
  return `${api.name}: ${api.value ?? 'true'}`;
}

/** The way to choose an engine, e.g. `engine: 'uffd'` or `--engine uffd`. */
export function engineWords(engine: string): string {
  return optionWords({ name: 'engine', value: `'${engine}'` }, { flag: '--engine', value: engine });
}
