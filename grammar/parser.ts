// The grammar, as a chevrotain CST parser with error recovery.
//
// Precedence, loosest first (each binary level is left-associative):
//   or  <  and  <  not (prefix)  <  comparisons (< <= > >= == !=, not chainable)
//   <  |  <  &  <  << >>  <  + -  <  * / %  <  primary
// so `offset & 0xfff == 0` is `(offset & 0xfff) == 0` and
// `not offset < 4 KiB and write` is `(not (offset < 4 KiB)) and write`.
// A `not` after an operator applies to what follows up to the next `and`/`or`:
// `a == not b` is `a == (not b)`. Precedence is applied in grammar/to-ast.ts.
// Repetition is written with MANY (loops), never self-recursion, so long
// operator chains and `else if` chains cannot exhaust the stack; brackets are
// bounded before parsing (grammar/lex.ts).
import type { IParserErrorMessageProvider, IToken, TokenType } from 'chevrotain';
import { CstParser, EOF } from './chevrotain.js';
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

export class PfpParser extends CstParser {
  /** `validate` runs chevrotain's grammar checks (ambiguity, left recursion): the tests do; the CLI skips them to start faster. */
  constructor(validate = false) {
    super(T.ALL_TOKENS, { recoveryEnabled: true, maxLookahead: 3, errorMessageProvider: messages, skipValidations: !validate });
    this.performSelfAnalysis();
  }

  file = this.RULE('file', () => {
    this.MANY(() => {
      this.OR([{ ALT: () => this.SUBRULE(this.policy) }, { ALT: () => this.CONSUME(T.Semicolon) }]);
    });
  });

  policy = this.RULE('policy', () => {
    this.CONSUME(T.Policy);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LCurly);
    this.MANY(() => {
      this.OR([
        { ALT: () => this.SUBRULE(this.source) },
        { ALT: () => this.SUBRULE(this.region) },
        { ALT: () => this.CONSUME(T.Semicolon) },
      ]);
    });
    this.CONSUME(T.RCurly);
  });

  source = this.RULE('source', () => {
    this.CONSUME(T.Source);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Equals);
    this.OR([{ ALT: () => this.CONSUME(T.File) }, { ALT: () => this.CONSUME2(T.Identifier, { LABEL: 'kind' }) }]);
    this.CONSUME(T.StringLit);
  });

  region = this.RULE('region', () => {
    this.CONSUME(T.Region);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Size);
    this.SUBRULE(this.expression, { LABEL: 'size' });
    this.OPTION(() => {
      this.CONSUME(T.At);
      this.SUBRULE2(this.expression, { LABEL: 'at' });
    });
    this.CONSUME(T.LCurly);
    this.MANY(() => {
      this.OR([{ ALT: () => this.SUBRULE(this.handler) }, { ALT: () => this.CONSUME(T.Semicolon) }]);
    });
    this.CONSUME(T.RCurly);
  });

  handler = this.RULE('handler', () => {
    this.CONSUME(T.On);
    this.OR([
      { ALT: () => this.CONSUME(T.Missing, { LABEL: 'name' }) },
      { ALT: () => this.CONSUME(T.Write, { LABEL: 'name' }) },
      // `on read` and other words parse, so the checker can name the handlers that exist.
      { ALT: () => this.CONSUME(T.Read, { LABEL: 'name' }) },
      { ALT: () => this.CONSUME(T.Identifier, { LABEL: 'name' }) },
    ]);
    this.SUBRULE(this.block);
  });

  block = this.RULE('block', () => {
    this.CONSUME(T.LCurly);
    this.MANY(() => {
      this.OR([{ ALT: () => this.SUBRULE(this.statement) }, { ALT: () => this.CONSUME(T.Semicolon) }]);
    });
    this.CONSUME(T.RCurly);
  });

  statement = this.RULE('statement', () => {
    this.OR([
      { ALT: () => this.SUBRULE(this.ifStatement) },
      { ALT: () => this.CONSUME(T.Zero) },
      {
        ALT: () => {
          this.CONSUME(T.Fill);
          this.SUBRULE(this.expression);
        },
      },
      { ALT: () => this.SUBRULE(this.copyStatement) },
      { ALT: () => this.CONSUME(T.Sigbus) },
      { ALT: () => this.CONSUME(T.Defer) },
      { ALT: () => this.SUBRULE(this.prefetchStatement) },
      { ALT: () => this.CONSUME(T.Notify) },
      {
        ALT: () => {
          this.CONSUME(T.Track);
          this.CONSUME(T.Dirty);
        },
      },
    ]);
  });

  ifStatement = this.RULE('ifStatement', () => {
    this.CONSUME(T.If);
    this.SUBRULE(this.expression);
    this.SUBRULE(this.block);
    // `else if` links are a loop, not recursion: long chains stay flat.
    this.MANY(() => {
      this.CONSUME(T.Else, { LABEL: 'elseIf' });
      this.CONSUME2(T.If);
      this.SUBRULE2(this.expression);
      this.SUBRULE2(this.block);
    });
    this.OPTION(() => {
      this.CONSUME2(T.Else);
      this.SUBRULE3(this.block, { LABEL: 'elseBlock' });
    });
  });

  copyStatement = this.RULE('copyStatement', () => {
    this.CONSUME(T.Copy);
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.CONSUME(T.At);
      this.SUBRULE(this.expression);
    });
  });

  prefetchStatement = this.RULE('prefetchStatement', () => {
    this.CONSUME(T.Prefetch);
    this.CONSUME(T.Integer);
    this.OR([{ ALT: () => this.CONSUME(T.Pages) }, { ALT: () => this.CONSUME(T.Page) }]);
    this.OPTION(() => {
      this.OR2([
        { ALT: () => this.CONSUME(T.Ahead, { LABEL: 'direction' }) },
        { ALT: () => this.CONSUME(T.Behind, { LABEL: 'direction' }) },
        { ALT: () => this.CONSUME(T.Around, { LABEL: 'direction' }) },
      ]);
    });
  });

  // Expressions are flat here: operands and operators in a row. grammar/to-ast.ts
  // applies precedence (an operator-precedence parse), which keeps the CST
  // two levels deep per operand instead of one level per precedence tier.
  expression = this.RULE('expression', () => {
    this.SUBRULE(this.operand);
    this.MANY(() => {
      this.CONSUME(T.BinaryOp);
      this.SUBRULE2(this.operand);
    });
  });

  operand = this.RULE('operand', () => {
    this.MANY(() => this.CONSUME(T.Not));
    this.SUBRULE(this.primary);
  });

  primary = this.RULE('primary', () => {
    this.OR([
      {
        ALT: () => {
          this.CONSUME(T.Integer);
          this.OPTION(() => {
            this.OR2([
              { ALT: () => this.CONSUME(T.UnitB, { LABEL: 'unit' }) },
              { ALT: () => this.CONSUME(T.UnitKiB, { LABEL: 'unit' }) },
              { ALT: () => this.CONSUME(T.UnitMiB, { LABEL: 'unit' }) },
              { ALT: () => this.CONSUME(T.UnitGiB, { LABEL: 'unit' }) },
              { ALT: () => this.CONSUME(T.UnitTiB, { LABEL: 'unit' }) },
              { ALT: () => this.CONSUME(T.Page, { LABEL: 'unit' }) },
              { ALT: () => this.CONSUME(T.Pages, { LABEL: 'unit' }) },
              // An unknown unit word (`16 MB`) parses so it can be reported as a unit error.
              { ALT: () => this.CONSUME(T.Identifier, { LABEL: 'unit' }) },
            ]);
          });
        },
      },
      { ALT: () => this.CONSUME(T.Offset, { LABEL: 'var' }) },
      { ALT: () => this.CONSUME2(T.Page, { LABEL: 'var' }) },
      { ALT: () => this.CONSUME(T.Address, { LABEL: 'var' }) },
      { ALT: () => this.CONSUME(T.Read, { LABEL: 'var' }) },
      { ALT: () => this.CONSUME(T.Write, { LABEL: 'var' }) },
      {
        ALT: () => {
          this.CONSUME2(T.Identifier, { LABEL: 'object' });
          this.OPTION2(() => {
            this.CONSUME(T.Dot);
            this.OR3([
              { ALT: () => this.CONSUME(T.Size, { LABEL: 'property' }) },
              { ALT: () => this.CONSUME3(T.Identifier, { LABEL: 'property' }) },
            ]);
          });
        },
      },
      {
        ALT: () => {
          this.CONSUME(T.LParen);
          this.SUBRULE(this.expression);
          this.CONSUME(T.RParen);
        },
      },
    ]);
  });
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
