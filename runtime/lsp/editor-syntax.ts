// The editors' syntax files, generated from the lexer's token list
// (grammar/tokens.ts) so they cannot drift from the language:
//   editors/vscode/syntaxes/pfp.tmLanguage.json   TextMate grammar
//   editors/vim/syntax/pfp.vim                    vim / neovim syntax
// A keyword added to the lexer appears in both (as a plain keyword until it is
// given a role below). test/editors/editors.test.ts fails when the committed files
// differ from what this prints; regenerate them with
//   node dist/runtime/lsp/editor-syntax.js --write
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TokenType } from 'chevrotain';
import { UNIT_SCALE } from '../../base/units.js';
import * as T from '../../grammar/tokens.js';
import { keywordText } from './keywords.js';

export type Role = 'declaration' | 'handler' | 'control' | 'action' | 'value' | 'unit' | 'logic' | 'keyword';

/** The role of each keyword, by its text. Keywords not named here are plain keywords. */
const ROLES: Record<string, Role> = {
  policy: 'declaration',
  source: 'declaration',
  region: 'declaration',
  file: 'declaration',
  on: 'handler',
  missing: 'handler',
  if: 'control',
  else: 'control',
  zero: 'action',
  fill: 'action',
  copy: 'action',
  sigbus: 'action',
  defer: 'action',
  prefetch: 'action',
  notify: 'action',
  track: 'action',
  dirty: 'action',
  offset: 'value',
  address: 'value',
  read: 'value',
  write: 'value',
  not: 'logic',
};

export function roleOf(t: TokenType): Role {
  const word = keywordText(t);
  if (UNIT_SCALE[word] !== undefined) return 'unit';
  if (t.CATEGORIES?.includes(T.BinaryOp)) return 'logic';
  return ROLES[word] ?? 'keyword';
}

const ROLE_ORDER: Role[] = ['declaration', 'handler', 'control', 'action', 'value', 'unit', 'logic', 'keyword'];

/** Keywords grouped by role, in the lexer's order. */
export function keywordsByRole(): Map<Role, string[]> {
  const m = new Map<Role, string[]>(ROLE_ORDER.map((r) => [r, []]));
  for (const k of T.KEYWORDS) m.get(roleOf(k))!.push(keywordText(k));
  for (const r of ROLE_ORDER) if (m.get(r)!.length === 0) m.delete(r);
  return m;
}

/** Symbols (operators and punctuation) of the lexer, longest first. */
export function symbols(): string[] {
  const out: string[] = [];
  for (const t of T.ALL_TOKENS) {
    const p = t.PATTERN;
    if (!(p instanceof RegExp) || /[A-Za-z0-9]/.test(p.source.replace(/\\[a-z]/gi, ''))) continue;
    if (t === T.Comment || t === T.StringLit || t === T.UnterminatedString || t === T.WhiteSpace) continue;
    out.push(p.source.replace(/\\(.)/g, '$1'));
  }
  return out.sort((a, b) => b.length - a.length);
}

const TM_SCOPE: Record<Role, string> = {
  declaration: 'storage.type',
  handler: 'keyword.control.handler',
  control: 'keyword.control.conditional',
  action: 'keyword.other.action',
  value: 'variable.language',
  unit: 'keyword.other.unit',
  logic: 'keyword.operator.logical',
  keyword: 'keyword.other',
};

const VIM_GROUP: Record<Role, [string, string]> = {
  declaration: ['pfpDeclaration', 'Structure'],
  handler: ['pfpHandler', 'Label'],
  control: ['pfpConditional', 'Conditional'],
  action: ['pfpAction', 'Statement'],
  value: ['pfpValue', 'Identifier'],
  unit: ['pfpUnit', 'Type'],
  logic: ['pfpLogic', 'Operator'],
  keyword: ['pfpKeyword', 'Keyword'],
};

/** The vim syntax group of a role. */
export function vimGroup(role: Role): string {
  return VIM_GROUP[role][0];
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function source(t: TokenType): string {
  return (t.PATTERN as RegExp).source;
}

export function textMateGrammar(): string {
  const repository: Record<string, unknown> = {
    comment: { name: 'comment.line.number-sign.pfp', match: source(T.Comment) },
    string: {
      name: 'string.quoted.double.pfp',
      begin: '"',
      end: '"|$',
      patterns: [{ name: 'constant.character.escape.pfp', match: '\\\\.' }],
    },
    number: { name: 'constant.numeric.pfp', match: `\\b(?:${source(T.Integer)})\\b` },
    operator: { name: 'keyword.operator.pfp', match: symbols().filter((s) => !'{}();.'.includes(s)).map(escapeRegExp).join('|') },
    punctuation: { name: 'punctuation.pfp', match: '[{}();.]' },
  };
  const patterns: { include: string }[] = [{ include: '#comment' }, { include: '#string' }, { include: '#number' }];
  for (const [role, words] of keywordsByRole()) {
    repository[role] = { name: `${TM_SCOPE[role]}.pfp`, match: `\\b(?:${words.join('|')})\\b` };
    patterns.push({ include: `#${role}` });
  }
  patterns.push({ include: '#operator' }, { include: '#punctuation' });
  const grammar = {
    $comment: 'Generated from grammar/tokens.ts by runtime/lsp/editor-syntax.ts: do not edit.',
    name: 'pfp',
    scopeName: 'source.pfp',
    fileTypes: ['pfp'],
    patterns,
    repository,
  };
  return JSON.stringify(grammar, null, 2) + '\n';
}

export function vimSyntax(): string {
  const lines = [
    '" Vim syntax file for .pfp page-fault policies (faultc).',
    '" Generated from grammar/tokens.ts by runtime/lsp/editor-syntax.ts: do not edit.',
    'if exists("b:current_syntax")',
    '  finish',
    'endif',
    '',
    'syn case match',
  ];
  const links: string[] = [];
  for (const [role, words] of keywordsByRole()) {
    const [group, link] = VIM_GROUP[role];
    lines.push(`syn keyword ${group} ${words.join(' ')}`);
    links.push(`hi def link ${group} ${link}`);
  }
  lines.push(
    // The lexer's integer: hex takes any letters after 0x (a malformed one is still one number).
    'syn match pfpNumber "\\<\\(0[xX][0-9A-Za-z_]*\\|[0-9][0-9_]*\\)\\>"',
    'syn match pfpEscape +\\\\.+ contained',
    'syn region pfpString start=+"+ skip=+\\\\.+ end=+"\\|$+ contains=pfpEscape',
    'syn match pfpComment "#.*$" contains=@Spell',
    '',
    ...links,
    'hi def link pfpNumber Number',
    'hi def link pfpEscape SpecialChar',
    'hi def link pfpString String',
    'hi def link pfpComment Comment',
    '',
    'let b:current_syntax = "pfp"',
  );
  return lines.join('\n') + '\n';
}

/** Files under editors/, relative to the repository root, and their generated text. */
export function generatedEditorFiles(): Map<string, string> {
  return new Map([
    ['editors/vscode/syntaxes/pfp.tmLanguage.json', textMateGrammar()],
    ['editors/vim/syntax/pfp.vim', vimSyntax()],
  ]);
}

if (process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url) && process.argv.includes('--write')) {
  // dist/runtime/lsp/ -> repository root
  const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
  for (const [rel, text] of generatedEditorFiles()) {
    writeFileSync(path.join(root, rel), text);
    process.stdout.write(`wrote ${rel}\n`);
  }
}
