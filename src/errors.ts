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
