/**
 * One root error for everything Tidemark refuses or fails to do. The `code` is stable (scripts and
 * tests match on it); `exitCode` follows the CLI contract in DESIGN.md; `hint` is the way forward.
 */
export type ErrorCode =
  | 'USAGE' // bad flags or arguments
  | 'CONFIG' // tidemark.yaml or model files are wrong
  | 'UNKNOWN_DATASET'
  | 'BAD_DATE'
  | 'BAD_INPUT' // a file or a value that cannot be used
  | 'SQL' // the engine rejected SQL of a model or a query
  | 'GUARD' // refused by a guard (protected range, full refresh, conflicting run...)
  | 'CONFIRM' // needs confirmation (--yes) and none was given
  | 'VALIDATION' // a task's output failed validation (window, keys, checks)
  | 'CHECK_FAILED' // a read-only check found a problem (duplicates, broken audit chain)
  | 'LOCKED' // the project's database is held by another process
  | 'UNAVAILABLE' // the database server could not be reached (retry later)
  | 'NOT_FOUND'
  | 'CANCELLED'
  | 'WINDOW_CLOSED' // a one-shot run stopped between tasks because its window closed (resumable)
  | 'RUN_FAILED' // a run that was followed (`wait RUN`, waitForRun) failed: its error says why
  | 'TIMEOUT' // a wait ran out before the run it followed finished; the run goes on
  | 'INTERNAL';

const EXIT_CODES: Record<ErrorCode, number> = {
  USAGE: 2,
  CONFIG: 2,
  UNKNOWN_DATASET: 2,
  BAD_DATE: 2,
  BAD_INPUT: 2,
  SQL: 2,
  GUARD: 3,
  CONFIRM: 3,
  VALIDATION: 4,
  CHECK_FAILED: 4,
  LOCKED: 1,
  UNAVAILABLE: 1,
  NOT_FOUND: 2,
  CANCELLED: 1,
  WINDOW_CLOSED: 1,
  RUN_FAILED: 1,
  TIMEOUT: 1,
  INTERNAL: 1,
};

export interface ErrorDetails {
  hint?: string;
  dataset?: string;
  partitions?: string[];
  [key: string]: unknown;
}

export class TidemarkError extends Error {
  readonly code: ErrorCode;
  readonly hint?: string;
  readonly details: ErrorDetails;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TidemarkError';
    this.code = code;
    this.hint = details.hint;
    this.details = details;
  }

  get exitCode(): number {
    return EXIT_CODES[this.code];
  }
}

/** Wraps anything thrown into a TidemarkError so callers handle one type. */
export function coerceError(error: unknown): TidemarkError {
  if (error instanceof TidemarkError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new TidemarkError('INTERNAL', message, {}, { cause: error });
}

export function usageError(message: string, hint?: string): TidemarkError {
  return new TidemarkError('USAGE', message, { hint });
}

/** What a refusal needs of a guard (src/core/guards.ts Guard): kept structural, errors import nothing. */
export interface RefusingGuard {
  code: string;
  message: string;
  hint: string;
}

/**
 * The GUARD error for a plan refused by one or more blocking guards. Every guard is named, not only
 * the first: someone who fixes one refusal should not discover the next only on the retry. One guard
 * reads as before (`refused: MESSAGE`, its hint); several read `refused by N guards: M1; M2` with one
 * hint line per guard, tagged with its code (the CLI prints each line of a hint as a `hint:` line).
 * The guards themselves travel in `details.guards` (`--json` prints them).
 */
export function guardRefusal(blocking: readonly RefusingGuard[], lead = 'refused', details: ErrorDetails = {}): TidemarkError {
  const { message, hint } = refusalText(blocking, lead);
  return new TidemarkError('GUARD', message, { ...details, hint, guards: blocking });
}

/** The message and hint lines of a refusal by `blocking` (guardRefusal; the console's 409 answers). */
export function refusalText(blocking: readonly RefusingGuard[], lead = 'refused'): { message: string; hint: string } {
  const only = blocking.length === 1;
  const message = only ? `${lead}: ${blocking[0].message}` : `${lead} by ${blocking.length} guards: ${blocking.map((g) => g.message).join('; ')}`;
  const hints = only ? [blocking[0].hint] : [...new Set(blocking.map((g) => `[${g.code}] ${g.hint}`))];
  return { message, hint: hints.join('\n') };
}
