// The editor files against the lexer, and two real editors: vim highlighting
// a policy with editors/vim (checked with synIDattr at known positions), and
// neovim's built-in LSP client running `faultc lsp` on a policy with a typo,
// reading the diagnostics back and formatting a buffer. Needs dist/ (the test
// setup builds it); vim and neovim come from scripts/setup.sh.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KEYWORDS } from '../../grammar/tokens.js';
import { generatedEditorFiles, roleOf, vimGroup } from '../../runtime/lsp/editor-syntax.js';
import { formatText } from '../../runtime/lsp/format.js';
import { keywordText } from '../../runtime/lsp/keywords.js';

const root = join(import.meta.dirname, '..', '..');
const cli = join(root, 'dist', 'runtime', 'cli.js');
const dir = mkdtempSync(join(tmpdir(), 'faultc-editors-test-'));

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function have(cmd: string): boolean {
  return spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;
}

describe('editor files', () => {
  it('are what the token list generates (regenerate: node dist/runtime/lsp/editor-syntax.js --write)', () => {
    for (const [rel, text] of generatedEditorFiles()) expect(readFileSync(join(root, rel), 'utf8'), rel).toBe(text);
  });

  it('the TextMate grammar gives every keyword its scope and none to a longer name', () => {
    const grammar = JSON.parse(readFileSync(join(root, 'editors/vscode/syntaxes/pfp.tmLanguage.json'), 'utf8')) as {
      patterns: { include: string }[];
      repository: Record<string, { name: string; match?: string }>;
    };
    const ordered = grammar.patterns.map((p) => grammar.repository[p.include.slice(1)]!).filter((r) => r.match !== undefined);
    const scopeOf = (word: string): string | undefined => ordered.find((r) => new RegExp(`^(?:${r.match})$`).test(word))?.name;
    for (const k of KEYWORDS) {
      const word = keywordText(k);
      expect(scopeOf(word), word).toMatch(/\.pfp$/);
      expect(scopeOf(word), word).not.toBe('constant.numeric.pfp');
      expect(scopeOf(word + '_x'), `${word}_x is a name`).toBeUndefined();
    }
    expect(scopeOf('0x1000')).toBe('constant.numeric.pfp');
    expect(scopeOf('# note')).toBe('comment.line.number-sign.pfp');
    expect(scopeOf('<<')).toBe('keyword.operator.pfp');
  });

  it('the VS Code extension names its grammar, language configuration and entry point', () => {
    const ext = JSON.parse(readFileSync(join(root, 'editors/vscode/package.json'), 'utf8')) as {
      main: string;
      contributes: { languages: { id: string; extensions: string[]; configuration: string }[]; grammars: { language: string; scopeName: string; path: string }[] };
    };
    const lang = ext.contributes.languages[0]!;
    expect(lang.extensions).toEqual(['.pfp']);
    const config = JSON.parse(readFileSync(join(root, 'editors/vscode', lang.configuration), 'utf8')) as { comments: { lineComment: string } };
    expect(config.comments.lineComment).toBe('#');
    expect(ext.contributes.grammars[0]).toEqual({ language: 'pfp', scopeName: 'source.pfp', path: './syntaxes/pfp.tmLanguage.json' });
    const check = spawnSync(process.execPath, ['--check', join(root, 'editors/vscode', ext.main)], { encoding: 'utf8' });
    expect(check.stderr).toBe('');
    expect(check.status).toBe(0);
  });
});

// Line 1 comment; 3: policy; 4: source with a string; 6: region with units; 8: if/and; 9: copy.
const POLICY = readFileSync(join(root, 'examples', 'tiered.pfp'), 'utf8');

describe('vim highlights .pfp with editors/vim', () => {
  const vim = have('vim');
  if (!vim) console.log('editors: vim tests skipped: vim is not installed (scripts/setup.sh installs it)');
  it.skipIf(!vim)('keywords, units, strings, numbers and comments at known positions', () => {
    // [line, column, expected syntax group]
    const probes: [number, number, string][] = [
      [1, 1, 'pfpComment'],
      [3, 1, 'pfpDeclaration'], // policy
      [4, 3, 'pfpDeclaration'], // source
      [4, 18, 'pfpDeclaration'], // file
      [4, 24, 'pfpString'],
      [6, 3, 'pfpDeclaration'], // region
      [6, 15, 'pfpKeyword'], // size
      [6, 20, 'pfpNumber'], // 8
      [6, 22, 'pfpUnit'], // MiB
      [7, 5, 'pfpHandler'], // on
      [7, 8, 'pfpHandler'], // missing
      [8, 7, 'pfpConditional'], // if
      [8, 10, 'pfpValue'], // offset
      [8, 26, 'pfpLogic'], // and
      [8, 37, ''], // `image` in image.size: a name, not highlighted
      [9, 9, 'pfpAction'], // copy
      [18, 7, 'pfpAction'], // track
    ];
    const got = probeVim(POLICY, probes);
    expect(got[0]).toBe('pfp');
    for (const [i, [l, c, group]] of probes.entries()) expect(got[i + 1], `${l}:${c} ${POLICY.split('\n')[l - 1]!.slice(c - 1, c + 8)}`).toBe(group);
  });

  it.skipIf(!vim)('every keyword of the lexer, in the group of its role', () => {
    const words = KEYWORDS.map(keywordText);
    const got = probeVim(words.join('\n') + '\n', words.map((_, i) => [i + 1, 1]));
    for (const [i, w] of words.entries()) expect(got[i + 1], w).toBe(vimGroup(roleOf(KEYWORDS[i]!)));
  });
});

/** The syntax group names vim gives at [line, column] positions of `text` (first item: the filetype). */
function probeVim(text: string, probes: [number, number, ...unknown[]][]): string[] {
  const file = join(dir, `probe${probes.length}.pfp`);
  writeFileSync(file, text);
  const script = join(dir, 'probe.vim');
  const out = join(dir, 'probe.out');
  writeFileSync(
    script,
    ['let out = [&filetype]', ...probes.map(([l, c]) => `call add(out, synIDattr(synID(${l}, ${c}, 1), 'name'))`), `call writefile(out, '${out}')`, 'qa!'].join('\n') + '\n',
  );
  const r = spawnSync('vim', ['-Es', '-N', '-u', 'NONE', '-i', 'NONE', '--cmd', `set rtp^=${join(root, 'editors', 'vim')}`, '-c', 'filetype plugin on', '-c', 'syntax on', '-c', `edit ${file}`, '-c', `source ${script}`], {
    encoding: 'utf8',
    timeout: 30_000,
  });
  expect(r.status, r.stderr).toBe(0);
  return readFileSync(out, 'utf8').split('\n');
}

describe('neovim with its built-in LSP client', () => {
  const nvim = have('nvim');
  if (!nvim) console.log('editors: neovim tests skipped: nvim is not installed (scripts/setup.sh installs it)');
  const runNvim = (file: string, mode: 'diagnostics' | 'format'): Record<string, unknown> => {
    const init = join(dir, 'init.lua');
    const out = join(dir, `nvim-${mode}.json`);
    writeFileSync(
      init,
      `local cli, out, mode = os.getenv('FAULTC_CLI'), os.getenv('OUT'), os.getenv('MODE')
vim.api.nvim_create_autocmd('FileType', { pattern = 'pfp', callback = function(args)
  local id = vim.lsp.start_client({ name = 'faultc', cmd = { '${process.execPath}', cli, 'lsp', '--stdio' }, root_dir = vim.fn.getcwd() })
  vim.lsp.buf_attach_client(args.buf, id)
end })
vim.api.nvim_create_autocmd('VimEnter', { callback = function()
  local result = { filetype = vim.bo.filetype }
  if mode == 'diagnostics' then
    result.waited = vim.wait(20000, function() return #vim.diagnostic.get(0) > 0 end, 50)
    result.diagnostics = {}
    for _, d in ipairs(vim.diagnostic.get(0)) do
      local lsp = (d.user_data or {}).lsp or {}
      table.insert(result.diagnostics, { lnum = d.lnum, col = d.col, end_col = d.end_col, severity = d.severity, message = d.message, code = d.code or lsp.code, source = d.source })
    end
  else
    result.waited = vim.wait(20000, function() return #vim.lsp.buf_get_clients(0) > 0 and vim.lsp.buf_get_clients(0)[1].initialized end, 50)
    local format = vim.lsp.buf.format or vim.lsp.buf.formatting_sync
    format({ timeout_ms = 10000 })
    result.lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  end
  vim.fn.writefile({ vim.fn.json_encode(result) }, out)
  vim.cmd('qa!')
end })
`,
    );
    const r = spawnSync('nvim', ['--headless', '--clean', '-u', init, '--cmd', `set rtp^=${join(root, 'editors', 'vim')}`, file], {
      encoding: 'utf8',
      cwd: dir,
      timeout: 60_000,
      env: { ...process.env, FAULTC_CLI: cli, OUT: out, MODE: mode },
    });
    expect(r.status, r.stderr).toBe(0);
    return JSON.parse(readFileSync(out, 'utf8')) as Record<string, unknown>;
  };

  it.skipIf(!nvim)('shows the diagnostics of a typo', () => {
    const file = join(dir, 'typo.pfp');
    const typo = POLICY.replace('copy image at offset', 'copy imag at offset');
    writeFileSync(file, typo);
    const r = runNvim(file, 'diagnostics');
    expect(r['filetype']).toBe('pfp');
    expect(r['waited']).toBe(true);
    expect(r['diagnostics']).toEqual([
      {
        lnum: 8,
        col: 13,
        end_col: 17,
        severity: 1,
        source: 'faultc',
        code: 'PFP3005',
        message: 'no source named `imag` in policy `tiered`\nhint: did you mean `image`?',
      },
    ]);
  });

  it.skipIf(!nvim)('formats a buffer to `faultc fmt`\'s layout', () => {
    const file = join(dir, 'messy.pfp');
    const messy = 'policy p{region r size 1 page{on missing{zero notify}}} # end\n';
    writeFileSync(file, messy);
    const r = runNvim(file, 'format');
    expect(r['waited']).toBe(true);
    const want = formatText(messy);
    expect(want.ok).toBe(true);
    expect((r['lines'] as string[]).join('\n') + '\n').toBe(want.ok ? want.text : '');
    expect((r['lines'] as string[]).length).toBe(8);
  });
});
