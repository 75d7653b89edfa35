// Completion from the grammar itself: chevrotain's content assist says which
// token types may follow the tokens before the cursor; keywords among them are
// offered, and where a name may stand, the names the policy declares.
import type { IToken, TokenType } from 'chevrotain';
import { CompletionItemKind, type CompletionItem } from 'vscode-languageserver';
import { getParser } from '../../grammar/parser.js';
import { Identifier, Integer, KEYWORDS } from '../../grammar/tokens.js';
import { policyAt, type DocumentState } from './document.js';
import { isUnit, keywordDoc, keywordText } from './keywords.js';

/** Keyword token types a suggested type stands for: itself, or the keywords in its category (`BinaryOp` holds `and`, `or`). */
function keywordsFor(t: TokenType): TokenType[] {
  if (KEYWORDS.includes(t)) return [t];
  return KEYWORDS.filter((k) => k.CATEGORIES?.includes(t));
}

function isWordChar(code: number): boolean {
  return (code >= 48 && code <= 57) || (code >= 65 && code <= 90) || (code >= 97 && code <= 122) || code === 95;
}

export function complete(doc: DocumentState, offset: number): CompletionItem[] {
  // The word being typed is not part of the input the grammar continues.
  let wordStart = offset;
  while (wordStart > 0 && isWordChar(doc.text.charCodeAt(wordStart - 1))) wordStart--;
  const tokens = doc.analysis.tokens;
  // Start at the enclosing top-level `policy`: everything before it is whole policies.
  let first = 0;
  let depth = 0;
  let end = 0;
  for (; end < tokens.length; end++) {
    const t = tokens[end]!;
    if (t.startOffset >= wordStart) break;
    if (t.image === '{') depth++;
    else if (t.image === '}') depth = Math.max(0, depth - 1);
    else if (depth === 0 && t.image === 'policy') first = end;
  }
  const before: IToken[] = tokens.slice(first, end);
  const last = before[before.length - 1];
  const paths = getParser().computeContentAssist('file', before);

  const items = new Map<string, CompletionItem>();
  let names = false;
  for (const p of paths) {
    for (const k of keywordsFor(p.nextTokenType)) {
      const word = keywordText(k);
      if (!items.has(word)) {
        items.set(word, { label: word, kind: isUnit(word) ? CompletionItemKind.Unit : CompletionItemKind.Keyword, documentation: { kind: 'markdown', value: keywordDoc(word) } });
      }
    }
    // A name is a reference only inside an expression or after `copy` (elsewhere it is being declared), and not as a unit after a number.
    if (p.nextTokenType === Identifier && last?.tokenType !== Integer && last?.image !== '.') {
      if (p.ruleStack[p.ruleStack.length - 1] === 'primary' || last?.image === 'copy') names = true;
    }
  }
  if (names) {
    const policy = policyAt(doc, wordStart);
    for (const d of policy?.decls.values() ?? []) {
      if (last?.image === 'copy' && d.kind !== 'source') continue;
      items.set(d.name.name, { label: d.name.name, kind: d.kind === 'source' ? CompletionItemKind.File : CompletionItemKind.Struct, detail: d.kind });
    }
  }
  return [...items.values()];
}
