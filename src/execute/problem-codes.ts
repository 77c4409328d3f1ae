/**
 * The `problems` field of a `run.failed` outbox event: which validation checks refused which
 * partitions, by code (validate.ts), so that whoever re-issues the plan knows which override it would
 * need (e.g. EMPTY_RESULT → --allow-empty; src/server/overrides.ts) without parsing the message.
 * Shared by the two places a run fails: the one-process executor and the workers of a detached run.
 */
import type { TidemarkError } from '../errors.js';
import type { Problem } from './validate.js';

export type ProblemCode = Pick<Problem, 'dataset' | 'partition' | 'code'>;

/** `{ problems }` for a validation failure that lists its problems, `{}` for any other failure. */
export function problemCodesOf(err: TidemarkError): { problems?: ProblemCode[] } {
  if (err.code !== 'VALIDATION' || !Array.isArray(err.details.problems)) return {};
  // Codes and where only: a problem's message may quote row values, which an event must not carry.
  return { problems: (err.details.problems as Problem[]).map((p) => ({ dataset: p.dataset, partition: p.partition, code: p.code })) };
}
