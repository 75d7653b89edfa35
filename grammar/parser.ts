// The grammar, as a chevrotain parser with error recovery whose actions build
// the AST directly (grammar/to-ast.ts).
//
// Precedence, loosest first (each binary level is left-associative):
//   or  <  and  <  not (prefix)  <  comparisons (< <= > >= == !=, not chainable)
//   <  |  <  &  <  << >>  <  + -  <  * / %  <  primary
// so `offset & 0xfff == 0` is `(offset & 0xfff) == 0` and
// `not offset < 4 KiB and write` is `(not (offset < 4 KiB)) and write`.
// A `not` after an operator applies to what follows up to the next `and`/`or`:
// `a == not b` is `a == (not b)`. Expressions are read flat (operands and
// operators in a row) and precedence is applied when the tree is built.
//
// Repetition is written with MANY (loops), never self-recursion, so long
// operator chains and `else if` chains cannot exhaust the stack; brackets are
// bounded before parsing (grammar/lex.ts).
//
// Actions run inside this.ACTION(): chevrotain first runs every rule once in a
// recording phase with placeholder tokens, and nothing may be built then.
import type { IOrAlt, IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';
import { EmbeddedActionsParser, EOF } from './chevrotain.js';
import type { FileAst, HandlerAst, PolicyAst, RegionAst, SetAst, SourceAst } from './ast.js';
import type { AstBuilder, BlockVal, IfLink, ImageHead, OperandItem, StmtVal, Val } from './to-ast.js';
import * as T from './tokens.js';

/** Parser error messages are structured data: grammar/index.ts turns them into diagnostics. */
export interface ParseErrorInfo {
  kind: 'mismatch' | 'noViableAlt' | 'earlyExit' | 'notAllInput';
  rule: string;
  expected: string[];
  expectedIdentifier: boolean;
}

function labelOf(t: TokenType): string {
  if (t === EOF) return 'end of file';
  return t.LABEL ?? t.name;
}

function firstTokens(paths: TokenType[][][]): TokenType[] {
  const seen: TokenType[] = [];
  for (const alt of paths) {
    for (const path of alt) {
      const first = path[0];
      if (first && !seen.includes(first)) seen.push(first);
    }
  }
  return seen;
}

function info(x: ParseErrorInfo): string {
  return JSON.stringify(x);
}

const messages: IParserErrorMessageProvider = {
  buildMismatchTokenMessage({ expected, ruleName }) {
    return info({ kind: 'mismatch', rule: ruleName, expected: [labelOf(expected)], expectedIdentifier: expected === T.Identifier });
  },
  buildNotAllInputParsedMessage({ ruleName }) {
    return info({ kind: 'notAllInput', rule: ruleName, expected: ['`policy`'], expectedIdentifier: false });
  },
  buildNoViableAltMessage({ expectedPathsPerAlt, ruleName }) {
    const first = firstTokens(expectedPathsPerAlt);
    return info({ kind: 'noViableAlt', rule: ruleName, expected: first.map(labelOf), expectedIdentifier: first.includes(T.Identifier) });
  },
  buildEarlyExitMessage({ expectedIterationPaths, ruleName }) {
    const first = firstTokens([expectedIterationPaths]);
    return info({ kind: 'earlyExit', rule: ruleName, expected: first.map(labelOf), expectedIdentifier: first.includes(T.Identifier) });
  },
};

/** The `not`s before an operand that has none (most): one shared list, never added to. */
const NO_NOTS: readonly IToken[] = [];

/** `nots` with `t` added: a new list in place of NO_NOTS, else the same list, grown. */
function withNot(nots: readonly IToken[], t: IToken): readonly IToken[] {
  if (nots === NO_NOTS) return [t];
  (nots as IToken[]).push(t);
  return nots;
}

/** One item of a policy body (none for a `;`). */
interface PolicyItem {
  source?: SourceAst | undefined;
  region?: RegionAst | undefined;
  set?: SetAst | undefined;
}

export class PfpParser extends EmbeddedActionsParser {
  /** Set before each parse: builds the tree and collects the bound diagnostics. */
  b!: AstBuilder;

  // Alternatives of the choices met on every statement and operand, built once:
  // chevrotain would otherwise get a fresh array of closures at each visit.
  // (Only choices whose alternatives use no variable of the rule can be kept.)
  private altsItem?: IOrAlt<PolicyItem>[];
  private altsHandler?: IOrAlt<HandlerAst | undefined>[];
  private altsHandlerName?: IOrAlt<IToken>[];
  private altsBlock?: IOrAlt<StmtVal | undefined>[];
  private altsStatement?: IOrAlt<StmtVal | undefined>[];
  private altsPages?: IOrAlt<IToken>[];
  private altsDirection?: IOrAlt<IToken>[];
  private altsBlockUnit?: IOrAlt<IToken>[];
  private altsPrimary?: IOrAlt<Val | undefined>[];
  private altsUnit?: IOrAlt<IToken>[];
  private altsVar?: IOrAlt<IToken>[];
  private altsProperty?: IOrAlt<IToken>[];

  /** `validate` runs chevrotain's grammar checks (ambiguity, left recursion): the tests do; the CLI skips them to start faster. */
  constructor(validate = false) {
    super(T.ALL_TOKENS, { recoveryEnabled: true, maxLookahead: 3, errorMessageProvider: messages, skipValidations: !validate });
    this.performSelfAnalysis();
  }

  file = this.RULE('file', (): FileAst | undefined => {
    const policies: (PolicyAst | undefined)[] = [];
    this.MANY(() => {
      this.OR([{ ALT: () => policies.push(this.SUBRULE(this.policy)) }, { ALT: () => this.CONSUME(T.Semicolon) }]);
    });
    return this.ACTION(() => this.b.file(policies));
  });

  policy = this.RULE('policy', (): PolicyAst | undefined => {
    const kw = this.CONSUME(T.Policy);
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.LCurly);
    const sources: (SourceAst | undefined)[] = [];
    const regions: (RegionAst | undefined)[] = [];
    const sets: (SetAst | undefined)[] = [];
    this.MANY(() => {
      const item = this.OR(
        (this.altsItem ??= [
          { ALT: (): PolicyItem => ({ source: this.SUBRULE(this.source) }) },
          { ALT: (): PolicyItem => ({ region: this.SUBRULE(this.region) }) },
          { ALT: (): PolicyItem => ({ set: this.SUBRULE(this.setDecl) }) },
          {
            ALT: (): PolicyItem => {
              this.CONSUME(T.Semicolon);
              return {};
            },
          },
        ]),
      );
      if (item.source) sources.push(item.source);
      if (item.region) regions.push(item.region);
      if (item.set) sets.push(item.set);
    });
    const close = this.CONSUME(T.RCurly);
    return this.ACTION(() => this.b.policy(kw, name, sources, regions, close, sets));
  });

  setDecl = this.RULE('setDecl', (): SetAst | undefined => {
    const kw = this.CONSUME(T.SetKw);
    const name = this.CONSUME(T.Identifier);
    return this.ACTION(() => this.b.setDecl(kw, name));
  });

  source = this.RULE('source', (): SourceAst | undefined => {
    const kw = this.CONSUME(T.Source);
    const name = this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    // Any word parses as the kind so the checker can say which kinds exist.
    const kind = this.OR([{ ALT: () => this.CONSUME(T.File) }, { ALT: () => this.CONSUME2(T.Identifier) }]);
    const str = this.CONSUME(T.StringLit);
    return this.ACTION(() => this.b.source(kw, name, kind, str));
  });

  region = this.RULE('region', (): RegionAst | undefined => {
    const kw = this.CONSUME(T.Region);
    const name = this.CONSUME(T.Identifier);
    let size: Val | undefined;
    let at: Val | undefined;
    let image: ImageHead | undefined;
    this.OR2([
      {
        ALT: () => {
          this.CONSUME(T.Size);
          size = this.SUBRULE(this.expression);
          this.OPTION(() => {
            this.CONSUME(T.At);
            at = this.SUBRULE2(this.expression);
          });
        },
      },
      {
        // `in <source>` then "[heap]" / a path, a word, or `at <address> size <size>`.
        ALT: () => {
          const inKw = this.CONSUME(T.In);
          const source = this.CONSUME2(T.Identifier);
          const head: ImageHead = { inKw, source };
          this.OR3([
            { ALT: () => (head.name = this.CONSUME(T.StringLit)) },
            { ALT: () => (head.word = this.CONSUME3(T.Identifier)) },
            {
              ALT: () => {
                this.CONSUME2(T.At);
                at = this.SUBRULE3(this.expression);
                this.CONSUME2(T.Size);
                size = this.SUBRULE4(this.expression);
              },
            },
          ]);
          image = head;
        },
      },
    ]);
    this.CONSUME(T.LCurly);
    const handlers: (HandlerAst | undefined)[] = [];
    this.MANY(() => {
      const h = this.OR(
        (this.altsHandler ??= [
          { ALT: () => this.SUBRULE(this.handler) },
          {
            ALT: (): HandlerAst | undefined => {
              this.CONSUME(T.Semicolon);
              return undefined;
            },
          },
        ]),
      );
      if (h !== undefined) handlers.push(h);
    });
    const close = this.CONSUME(T.RCurly);
    return this.ACTION(() => this.b.region(kw, name, size, at, handlers, close, image));
  });

  handler = this.RULE('handler', (): HandlerAst | undefined => {
    const kw = this.CONSUME(T.On);
    const name = this.OR(
      (this.altsHandlerName ??= [
        { ALT: () => this.CONSUME(T.Missing) },
        { ALT: () => this.CONSUME(T.Write) },
        // `on read` and other words parse, so the checker can name the handlers that exist.
        { ALT: () => this.CONSUME(T.Read) },
        { ALT: () => this.CONSUME(T.Identifier) },
      ]),
    );
    const block = this.SUBRULE(this.block);
    return this.ACTION(() => this.b.handler(kw, name, block));
  });

  block = this.RULE('block', (): BlockVal | undefined => {
    const open = this.CONSUME(T.LCurly);
    const stmts: (StmtVal | undefined)[] = [];
    this.MANY(() => {
      const s = this.OR(
        (this.altsBlock ??= [
          { ALT: () => this.SUBRULE(this.statement) },
          {
            ALT: (): StmtVal | undefined => {
              this.CONSUME(T.Semicolon);
              return undefined;
            },
          },
        ]),
      );
      if (s !== undefined) stmts.push(s);
    });
    const close = this.CONSUME(T.RCurly);
    return this.ACTION(() => this.b.block(open, stmts, close));
  });

  statement = this.RULE('statement', (): StmtVal | undefined =>
    this.OR((this.altsStatement ??= [
      { ALT: () => this.SUBRULE(this.ifStatement) },
      {
        ALT: () => {
          const t = this.CONSUME(T.Zero);
          return this.ACTION(() => this.b.simple('zero', t));
        },
      },
      {
        ALT: () => {
          const kw = this.CONSUME(T.Fill);
          const value = this.SUBRULE(this.expression);
          return this.ACTION(() => this.b.fill(kw, value));
        },
      },
      {
        ALT: () => {
          const kw = this.CONSUME(T.Copy);
          const source = this.CONSUME(T.Identifier);
          let at: Val | undefined;
          this.OPTION(() => {
            this.CONSUME(T.At);
            at = this.SUBRULE2(this.expression);
          });
          return this.ACTION(() => this.b.copy(kw, source, at));
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.Sigbus);
          return this.ACTION(() => this.b.simple('sigbus', t));
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.Defer);
          return this.ACTION(() => this.b.simple('defer', t));
        },
      },
      {
        ALT: () => {
          const kw = this.CONSUME(T.Prefetch);
          // Not kept: both alternatives close over `kw`.
          return this.OR5([
            {
              ALT: () => {
                const count = this.CONSUME(T.Integer);
                const unit = this.OR2((this.altsPages ??= [{ ALT: () => this.CONSUME(T.Pages) }, { ALT: () => this.CONSUME(T.Page) }]));
                let direction: IToken | undefined;
                this.OPTION2(() => {
                  direction = this.OR3((this.altsDirection ??= [{ ALT: () => this.CONSUME(T.Ahead) }, { ALT: () => this.CONSUME(T.Behind) }, { ALT: () => this.CONSUME(T.Around) }]));
                });
                return this.ACTION(() => this.b.prefetch(kw, count, unit, direction));
              },
            },
            {
              ALT: () => {
                const block = this.CONSUME(T.Block);
                const count = this.CONSUME2(T.Integer);
                const unit = this.OR4((this.altsBlockUnit ??= [
                  { ALT: () => this.CONSUME(T.UnitKiB) },
                  { ALT: () => this.CONSUME(T.UnitMiB) },
                  { ALT: () => this.CONSUME2(T.Pages) },
                  { ALT: () => this.CONSUME2(T.Page) },
                ]));
                return this.ACTION(() => this.b.prefetchBlock(kw, block, count, unit));
              },
            },
          ]);
        },
      },
      {
        ALT: () => {
          const t = this.CONSUME(T.Notify);
          return this.ACTION(() => this.b.simple('notify', t));
        },
      },
      {
        ALT: () => {
          const track = this.CONSUME(T.Track);
          const dirty = this.CONSUME(T.Dirty);
          return this.ACTION(() => this.b.trackDirty(track, dirty));
        },
      },
    ])),
  );

  ifStatement = this.RULE('ifStatement', (): StmtVal | undefined => {
    const links: IfLink[] = [];
    const ifTok = this.CONSUME(T.If);
    const cond = this.SUBRULE(this.expression);
    const block = this.SUBRULE(this.block);
    links.push({ ifTok, cond, block });
    // `else if` links are a loop, not recursion: long chains stay flat.
    this.MANY(() => {
      const elseTok = this.CONSUME(T.Else);
      const ifTok2 = this.CONSUME2(T.If);
      const cond2 = this.SUBRULE2(this.expression);
      const block2 = this.SUBRULE2(this.block);
      links.push({ ifTok: ifTok2, cond: cond2, block: block2, elseTok });
    });
    let elseTok: IToken | undefined;
    let elseBlock: BlockVal | undefined;
    this.OPTION(() => {
      elseTok = this.CONSUME2(T.Else);
      elseBlock = this.SUBRULE3(this.block);
    });
    return this.ACTION(() => this.b.ifChain(links, elseTok, elseBlock));
  });

  expression = this.RULE('expression', (): Val | undefined => {
    const items: OperandItem[] = [];
    const first = this.LA(1);
    let nots = NO_NOTS;
    this.MANY(() => {
      nots = withNot(nots, this.CONSUME(T.Not));
    });
    items.push({ nots, prim: this.SUBRULE(this.primary) });
    this.MANY2(() => {
      const op = this.CONSUME(T.BinaryOp);
      let more = NO_NOTS;
      this.MANY3(() => {
        more = withNot(more, this.CONSUME2(T.Not));
      });
      items.push({ op, nots: more, prim: this.SUBRULE2(this.primary) });
    });
    return this.ACTION(() => this.b.expression(items, this.b.at(first)));
  });

  primary = this.RULE('primary', (): Val | undefined =>
    this.OR((this.altsPrimary ??= [
      {
        ALT: () => {
          const int = this.CONSUME(T.Integer);
          let unit: IToken | undefined;
          this.OPTION(() => {
            unit = this.OR2((this.altsUnit ??= [
              { ALT: () => this.CONSUME(T.UnitB) },
              { ALT: () => this.CONSUME(T.UnitKiB) },
              { ALT: () => this.CONSUME(T.UnitMiB) },
              { ALT: () => this.CONSUME(T.UnitGiB) },
              { ALT: () => this.CONSUME(T.UnitTiB) },
              { ALT: () => this.CONSUME(T.Page) },
              { ALT: () => this.CONSUME(T.Pages) },
              // An unknown unit word (`16 MB`) parses so it can be reported as a unit error.
              { ALT: () => this.CONSUME(T.Identifier) },
            ]));
          });
          return this.ACTION(() => this.b.number(int, unit));
        },
      },
      {
        ALT: () => {
          const v = this.OR3((this.altsVar ??= [
            { ALT: () => this.CONSUME(T.Offset) },
            { ALT: () => this.CONSUME2(T.Page) },
            { ALT: () => this.CONSUME(T.Address) },
            { ALT: () => this.CONSUME(T.Read) },
            { ALT: () => this.CONSUME(T.Write) },
          ]));
          return this.ACTION(() => this.b.variable(v));
        },
      },
      {
        ALT: () => {
          const obj = this.CONSUME2(T.Identifier);
          let prop: IToken | undefined;
          this.OPTION2(() => {
            this.CONSUME(T.Dot);
            prop = this.OR4((this.altsProperty ??= [{ ALT: () => this.CONSUME(T.Size) }, { ALT: () => this.CONSUME3(T.Identifier) }]));
          });
          return this.ACTION(() => this.b.name(obj, prop));
        },
      },
      {
        ALT: () => {
          const open = this.CONSUME(T.LParen);
          const inner = this.SUBRULE(this.expression);
          const close = this.CONSUME(T.RParen);
          return this.ACTION(() => this.b.bracketed(open, inner, close));
        },
      },
    ])),
  );
}

/** One parser per process: building it (self-analysis) is the expensive part. */
let shared: PfpParser | undefined;
export function getParser(): PfpParser {
  shared ??= new PfpParser();
  return shared;
}

export function isEof(tok: IToken): boolean {
  return tok.tokenType === EOF;
}
