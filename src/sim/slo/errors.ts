/** SLO input errors (exit 2): bad syntax, unknown metric, unknown or absent fault. */
import { TacoError } from '../../core/errors.js';

export class SloError extends TacoError {
  /** The SLO text. */
  readonly slo: string;
  /** 1-based column of a syntax error, else null. */
  readonly column: number | null;
  /** The message without the SLO text, for callers that name the SLO themselves (file:line: slo[2]: …). */
  readonly reason: string;

  constructor(slo: string, reason: string, column: number | null = null) {
    super('BAD_INPUT', `SLO "${slo}": ${column !== null ? `column ${column}: ` : ''}${reason}`, {
      slo,
      column,
    });
    this.name = 'SloError';
    this.slo = slo;
    this.column = column;
    this.reason = column !== null ? `column ${column}: ${reason}` : reason;
  }
}
