// `faultc completion`: a bash completion script made from the program itself
// (its commands and their options), and `--regions FILE`, which the script
// calls to complete `--region` with the region names of the .pfp on the line.
//   faultc completion > /etc/bash_completion.d/faultc     (or source it in ~/.bashrc)
import { Option, type Command } from 'commander';
import { checkFile } from '../../compiler/index.js';

function optionWords(cmd: Command): string[] {
  const words: string[] = [];
  for (const o of cmd.options) {
    if (o.hidden) continue;
    if (o.short) words.push(o.short);
    if (o.long) words.push(o.long);
  }
  words.push('-h', '--help');
  return words;
}

/** Options that take a value (so the word after them is not a command argument). */
function valueOptions(cmd: Command): string[] {
  return cmd.options.filter((o) => o.required || o.optional).flatMap((o) => [o.short, o.long].filter((x): x is string => !!x));
}

export function bashCompletion(program: Command): string {
  const commands = program.commands.filter((c) => c.name() !== 'help');
  const cases = commands
    .map((c) => `    ${c.name()}) opts='${optionWords(c).join(' ')}'; vals='${valueOptions(c).join(' ')}' ;;`)
    .join('\n');
  return `# bash completion for faultc (made by \`faultc completion\`; install with
#   faultc completion > /etc/bash_completion.d/faultc
# or add \`source <(faultc completion)\` to ~/.bashrc)
_faultc() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]}
  local cmd='' i file=''
  for ((i = 1; i < COMP_CWORD; i++)); do
    case \${COMP_WORDS[i]} in
      --) [[ $cmd == trace ]] && { COMPREPLY=($(compgen -c -- "$cur")); return; } ;;
      -*) ;;
      *.pfp|*.policy.json) [[ -n $cmd ]] && file=\${COMP_WORDS[i]} ;;
      *) [[ -z $cmd ]] && cmd=\${COMP_WORDS[i]} ;;
    esac
  done
  if [[ -z $cmd ]]; then
    COMPREPLY=($(compgen -W '${commands.map((c) => c.name()).join(' ')} help ${optionWords(program).join(' ')}' -- "$cur"))
    return
  fi
  local opts='' vals=''
  case $cmd in
${cases}
  esac
  if [[ $prev == --region || $prev == --explain-region ]] && [[ -n $file ]]; then
    COMPREPLY=($(compgen -W "$("\${COMP_WORDS[0]}" completion --regions "$file" 2>/dev/null)" -- "$cur"))
    return
  fi
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    return
  fi
  compopt -o filenames 2>/dev/null
  COMPREPLY=($(compgen -f -- "$cur"))
}
complete -F _faultc faultc
`;
}

/** Region names of every policy in a .pfp, one per line (nothing when it does not check). */
async function regionNames(file: string): Promise<string[]> {
  const res = await checkFile(file);
  if (!res.ok) return [];
  return [...new Set(res.value.policies.flatMap((p) => p.regions.map((r) => r.id)))];
}

/** `allCommands` builds the program with every command registered (cli/index.ts's makeProgram). */
export function registerCompletion(program: Command, allCommands: () => Promise<Command>): void {
  program
    .command('completion')
    .description('print a bash completion script (commands, options, region names)')
    .addOption(new Option('--regions <file>', 'print the region names of a .pfp, one per line').hideHelp())
    .action(async (flags: { regions?: string }) => {
      if (flags.regions !== undefined) {
        const names = await regionNames(flags.regions);
        if (names.length) process.stdout.write(names.join('\n') + '\n');
        return;
      }
      process.stdout.write(bashCompletion(await allCommands()));
    });
}
