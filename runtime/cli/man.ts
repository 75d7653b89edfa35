// The man pages, made from the sources of truth: faultc(1) from the program's
// own commands, options and help texts (runtime/cli/), faultc-pfp(5) from
// docs/language.md. scripts/make-man.mjs writes them to man/; a test checks
// the committed pages are what this makes.
import type { Command, Help } from 'commander';

/** Escapes text for roff: backslashes, and a leading dot or quote. */
function esc(text: string): string {
  return text
    .replace(/\\/g, '\\e')
    .replace(/-/g, '\\-')
    .replace(/^([.'])/gm, '\\&$1')
    .replace(/→/g, '\\(->')
    .replace(/[‘’]/g, "'")
    .replace(/[“”]/g, '"');
}

/** Markdown inline code and bold to roff fonts. */
function inline(text: string): string {
  return esc(text)
    .replace(/`([^`]+)`/g, '\\fB$1\\fR')
    .replace(/\*\*([^*]+)\*\*/g, '\\fB$1\\fR')
    .replace(/\*([^*]+)\*/g, '\\fI$1\\fR')
    .replace(/\[([^\]]+)\]\([^)]+\)/g, '$1');
}

function afterHelp(cmd: Command): string {
  let text = '';
  (cmd as unknown as NodeJS.EventEmitter).emit('afterHelp', { error: false, command: cmd, write: (s: string) => (text += s) });
  return text.trim();
}

function commandSection(cmd: Command, help: Help): string[] {
  const out: string[] = [];
  out.push(`.SS ${esc(`faultc ${help.commandUsage(cmd).replace(/^faultc /, '')}`)}`);
  out.push(inline(cmd.description()));
  const args = help.visibleArguments(cmd);
  const opts = help.visibleOptions(cmd).filter((o) => o.long !== '--help');
  for (const a of args) {
    out.push('.TP', `\\fI${esc(help.argumentTerm(a))}\\fR`, inline(help.argumentDescription(a)));
  }
  for (const o of opts) {
    out.push('.TP', `\\fB${esc(help.optionTerm(o))}\\fR`, inline(help.optionDescription(o)));
  }
  const after = afterHelp(cmd);
  if (after) {
    out.push('.PP');
    for (const para of after.split(/\n\s*\n/)) {
      // Indented lines are a layout of their own (a list of files, a table): keep it.
      if (/\n\s{2,}\S/.test(para)) out.push('.nf', esc(para), '.fi', '.PP');
      else out.push(inline(para.replace(/\n/g, ' ')), '.PP');
    }
    out.pop();
  }
  return out;
}

export function faultcManPage(program: Command, version: string): string {
  const help = program.createHelp();
  const commands = program.commands.filter((c) => c.name() !== 'help');
  const out = [
    `.TH FAULTC 1 "" "faultc ${version}" "faultc manual"`,
    '.SH NAME',
    'faultc \\- declarative page\\-fault policies for Linux: compile, verify, run and trace',
    '.SH SYNOPSIS',
    '.B faultc',
    '[\\fB\\-v\\fR] \\fIcommand\\fR [\\fIoptions\\fR] [\\fIarguments\\fR]',
    '.br',
    '.B faultc \\-\\-version',
    '.SH DESCRIPTION',
    inline(program.description()) + '.',
    'A \\fB.pfp\\fR policy (see \\fBfaultc\\-pfp\\fR(5)) says, per memory region, what the first touch of a page does;',
    'faultc runs it on the \\fBkernel\\fR engine (the patched kernel), the \\fBuffd\\fR engine (userfaultfd) or the \\fBtrace\\fR engine (BPF, observe only).',
    '.SH GLOBAL OPTIONS',
  ];
  for (const o of help.visibleOptions(program).filter((o) => o.long !== '--help')) {
    out.push('.TP', `\\fB${esc(help.optionTerm(o))}\\fR`, inline(help.optionDescription(o)));
  }
  out.push('.SH COMMANDS');
  for (const c of commands) out.push(...commandSection(c, help));
  out.push(
    '.SH EXIT STATUS',
    '.TP', '0', 'success',
    '.TP', '1', 'the input has errors (diagnostics printed)',
    '.TP', '2', 'usage error',
    '.TP', '3', 'missing privilege, kernel feature or tool (the message says which and what to do)',
    '.TP', '4', 'internal or I/O failure, or \\fBrun \\-\\-verify\\fR found a page that differs',
    '.PP',
    '\\fBfaultc trace\\fR with a command exits with the command\'s own status (127 when it cannot be started).',
    '.SH ENVIRONMENT',
    '.TP', '\\fBFAULTC_DEBUG\\fR', 'as \\fB\\-v\\fR: libbpf\'s debug log and the engines\' debug messages on stderr.',
    '.TP', '\\fBFAULTC_CLANG\\fR, \\fBFAULTC_CC\\fR', 'the BPF compiler (default \\fBclang\\fR) and the host C compiler (default \\fBcc\\fR).',
    '.TP', '\\fBNO_COLOR\\fR', 'no colour in diagnostics, even on a terminal.',
    '.SH FILES',
    '.TP', '\\fI~/.cache/faultc\\fR', 'compiled policies and trace programs, keyed by the hash of their inputs.',
    '.SH SEE ALSO',
    '\\fBfaultc\\-pfp\\fR(5), \\fBuserfaultfd\\fR(2), \\fBperf\\fR(1), \\fBbpftrace\\fR(8), \\fBbpftool\\fR(8)',
  );
  return out.join('\n') + '\n';
}

/** docs/language.md as roff: headings, paragraphs, lists, tables and code blocks. */
export function languageManPage(markdown: string, version: string): string {
  const out = [`.TH FAULTC-PFP 5 "" "faultc ${version}" "faultc manual"`, '.SH NAME', 'faultc\\-pfp \\- the .pfp page\\-fault policy language of faultc'];
  const lines = markdown.split('\n');
  let para: string[] = [];
  const flush = () => {
    if (para.length) out.push('.PP', inline(para.join(' ')));
    para = [];
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.startsWith('```')) {
      flush();
      const body: string[] = [];
      // An example marked as an error or a warning says so in the page.
      const mark = /^```pfp (error|warning) (PFP\d+)/.exec(line);
      if (mark) body.push(`# ${mark[1]} ${mark[2]}:`);
      for (i++; i < lines.length && !lines[i]!.startsWith('```'); i++) body.push(lines[i]!);
      out.push('.PP', '.RS 4', '.nf', ...body.map(esc), '.fi', '.RE');
      continue;
    }
    const h = /^(#+)\s+(.*)$/.exec(line);
    if (h) {
      flush();
      if (h[1]!.length === 1) out.push('.SH DESCRIPTION');
      else out.push(h[1]!.length === 2 ? `.SH ${esc(h[2]!.toUpperCase())}` : `.SS ${esc(h[2]!)}`);
      continue;
    }
    if (line.startsWith('|')) {
      flush();
      const rows: string[][] = [];
      for (; i < lines.length && lines[i]!.startsWith('|'); i++) {
        const cells = lines[i]!.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|'));
        if (!cells.every((c) => /^-+$/.test(c))) rows.push(cells);
      }
      i--;
      // A definition list: the first column as the term, the rest as its text.
      const [head, ...body] = rows;
      for (const r of body) out.push('.TP', inline(r[0]!), inline(r.slice(1).map((c, k) => (r.length > 2 && head ? `${head[k + 1]}: ${c}` : c)).join('; ')));
      continue;
    }
    const item = /^\s*-\s+(.*)$/.exec(line);
    if (item) {
      flush();
      const text = [item[1]!];
      for (; i + 1 < lines.length && /^\s{2,}\S/.test(lines[i + 1]!) && !/^\s*-\s/.test(lines[i + 1]!); i++) text.push(lines[i + 1]!.trim());
      out.push('.IP \\(bu 2', inline(text.join(' ')));
      continue;
    }
    if (line.trim() === '') flush();
    else para.push(line.trim());
  }
  flush();
  out.push('.SH SEE ALSO', '\\fBfaultc\\fR(1)');
  return out.join('\n') + '\n';
}
