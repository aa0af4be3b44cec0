/**
 * Recursive-descent parser for the SLO grammar in ast.ts. Errors are SloError
 * with the 1-based column where parsing stopped and what was expected there.
 */
import {
  AGGREGATIONS,
  type Aggregation,
  OPERATORS,
  type Operator,
  type Slo,
  type SloWindow,
  type ThresholdUnit,
} from './ast.js';
import { SloError } from './errors.js';

const NAME = /[A-Za-z0-9_][A-Za-z0-9_.-]*/y;
const NUMBER = /-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const DURATION_UNIT = /(?:ms|s|m|h)(?![A-Za-z0-9_])/y;
const THRESHOLD_UNIT = /(?:ms|s|m|h|%)(?![A-Za-z0-9_])/y;
const QUOTED = /"(?:[^"\\]|\\.)*"/y;
const DURATION_MS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 } as const;

class Parser {
  private pos = 0;
  constructor(private readonly text: string) {}

  fail(expected: string, at = this.pos): never {
    const found = at >= this.text.length ? 'end of text' : `"${this.text.slice(at, at + 12)}"`;
    throw new SloError(this.text, `expected ${expected}, found ${found}`, at + 1);
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos]!)) this.pos++;
  }

  private match(re: RegExp): string | null {
    this.skipSpace();
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return null;
    this.pos += m[0].length;
    return m[0];
  }

  /** Like match but without skipping spaces first (a unit sticks to its number). */
  private matchHere(re: RegExp): string | null {
    re.lastIndex = this.pos;
    const m = re.exec(this.text);
    if (!m) return null;
    this.pos += m[0].length;
    return m[0];
  }

  private expect(literal: string, what = `"${literal}"`): void {
    this.skipSpace();
    if (!this.text.startsWith(literal, this.pos)) this.fail(what);
    this.pos += literal.length;
  }

  private peek(literal: string): boolean {
    this.skipSpace();
    return this.text.startsWith(literal, this.pos);
  }

  private name(what: string): string {
    return this.match(NAME) ?? this.fail(what);
  }

  private number(what: string): number {
    const n = this.match(NUMBER);
    if (n === null) this.fail(what);
    const v = Number(n);
    if (!Number.isFinite(v)) this.fail(what, this.pos - n.length);
    return v;
  }

  parse(): Slo {
    this.skipSpace();
    const start = this.pos;
    const head = this.match(/[A-Za-z]+/y);
    if (head === 'sometimes') {
      this.expect('(');
      const event = this.name('an event name');
      this.expect(')');
      return this.finish({ type: 'sometimes', event, window: this.window() });
    }
    if (head === null || !(AGGREGATIONS as readonly string[]).includes(head)) {
      this.fail(`an aggregation (${AGGREGATIONS.join(' ')}) or sometimes`, start);
    }
    const agg = head as Aggregation;
    let q: number | null = null;
    if (agg === 'p') {
      this.expect('(', '"(" and a percentile, as in p(99)');
      const at = this.pos;
      q = this.number('a percentile between 0 and 100');
      if (!(q > 0 && q <= 100)) this.fail('a percentile above 0 and at most 100', at);
      this.expect(')');
    }
    this.expect('(', '"(" and a metric name');
    const metric = this.name('a metric name');
    const tags = this.tags();
    this.expect(')', tags ? '")"' : '"{" or ")"');
    const op = this.operator();
    const value = this.number('a number');
    const unit = this.matchHere(THRESHOLD_UNIT) as ThresholdUnit | null;
    if (unit === null && /[A-Za-z%]/.test(this.text[this.pos] ?? ''))
      this.fail('a unit (ms s m h %) or nothing');
    return this.finish({
      type: 'threshold',
      agg,
      q,
      metric,
      tags: tags ?? {},
      op,
      value,
      unit,
      window: this.window(),
    });
  }

  private tags(): Record<string, string> | null {
    if (!this.peek('{')) return null;
    this.pos++;
    // Entries, then fromEntries: a tag named __proto__ must stay a plain key.
    const entries: [string, string][] = [];
    for (;;) {
      const at = this.pos;
      const key = this.name('a tag name');
      if (entries.some(([k]) => k === key)) this.fail(`a tag other than "${key}" (given twice)`, at);
      this.expect(':');
      const quoted = this.match(QUOTED);
      entries.push([key, quoted !== null ? (JSON.parse(quoted) as string) : this.name('a tag value')]);
      if (this.peek('}')) break;
      this.expect(',', '"," or "}"');
    }
    this.pos++;
    return Object.fromEntries(entries);
  }

  private operator(): Operator {
    this.skipSpace();
    // Longest first, so "<=" is not read as "<".
    for (const op of [...OPERATORS].sort((a, b) => b.length - a.length)) {
      if (this.text.startsWith(op, this.pos)) {
        this.pos += op.length;
        return op;
      }
    }
    return this.fail(`an operator (${OPERATORS.join(' ')})`);
  }

  private window(): SloWindow | null {
    this.skipSpace();
    if (this.pos >= this.text.length) return null;
    const at = this.pos;
    if (this.match(/within(?![A-Za-z0-9_])/y) === null)
      this.fail('"within DURATION after FAULT" or the end', at);
    const n = this.number('a duration like 3m');
    const unit = this.matchHere(DURATION_UNIT) as keyof typeof DURATION_MS | null;
    if (unit === null && /[A-Za-z%]/.test(this.text[this.pos] ?? '')) this.fail('a duration unit (ms s m h)');
    if (n < 0) this.fail('a duration that is not negative', at);
    this.expect('after', '"after"');
    const after = this.name('a fault name or kind');
    return { durationMs: n * (unit ? DURATION_MS[unit] : 1), after };
  }

  private finish<T extends Slo>(slo: T): T {
    this.skipSpace();
    if (this.pos < this.text.length) this.fail('the end');
    return slo;
  }
}

/** Parses one SLO; throws SloError (BAD_INPUT) naming the column. */
export function parseSlo(text: string): Slo {
  return new Parser(text).parse();
}
