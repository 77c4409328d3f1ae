/**
 * How a failed or refused command reports its error, the same in the CLI and inside `tidemark serve`:
 * one `error:` line and a `hint:` line per line of the hint on stderr (for people), and with `--json`
 * also one JSON object on stdout (for scripts, which otherwise get nothing to parse):
 *   { "error": { "code", "message", "hint"?, "exit_code", "run_id"?, "guards"? } }
 * `guards`: the blocking guards of a refused plan, shaped as in `plan --json`.
 *
 * A command that already printed its JSON before failing (`check`, `audit verify --data`,
 * `backfill --dry-run` of a refused plan, … print their report, then exit 4 or 3) keeps that report as
 * its one object on stdout: a second object would break a script reading one.
 *
 * The JSON goes through the redactor (configured secrets when the workspace is known, credential
 * shapes always), as every JSON output does: stdout is often kept in CI logs.
 */
import { coerceError, type TidemarkError } from '../errors.js';
import { redactSecrets } from '../audit/redact.js';

export interface ErrorOutput {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether the command already wrote something on stdout. */
  stdoutUsed: boolean;
  redact?: (text: string) => string;
}

/** Reports `error` and returns the exit code the command ends with. */
export function reportError(error: unknown, argv: readonly string[], out: ErrorOutput): number {
  const err = coerceError(error);
  // Both streams are redacted alike: CI logs keep stderr as well as stdout.
  const redact = out.redact ?? ((t: string) => redactSecrets(t));
  out.stderr(`error: ${redact(err.message)}\n`);
  // A hint of several lines (one per refusing guard) is several `hint:` lines.
  if (err.hint) for (const line of redact(err.hint).split('\n')) out.stderr(`hint: ${line}\n`);
  if (argv.includes('--debug')) out.stderr(`${(err.cause as Error | undefined)?.stack ?? err.stack}\n`);
  if (argv.includes('--json') && !out.stdoutUsed) out.stdout(`${JSON.stringify(errorJson(err, redact), null, 2)}\n`);
  return err.exitCode;
}

interface GuardJson {
  code: string;
  dataset: string;
  partitions: string[];
  message: string;
  hint: string;
  blocking: boolean;
}

export function errorJson(err: TidemarkError, redact: (text: string) => string): { error: Record<string, unknown> } {
  const body: Record<string, unknown> = { code: err.code, message: redact(err.message) };
  if (err.hint) body.hint = redact(err.hint);
  body.exit_code = err.exitCode;
  // The run the command started or resumed before it failed or was cancelled: the one to re-issue or cancel.
  if (typeof err.details.run_id === 'string') body.run_id = err.details.run_id;
  const guards = err.details.guards;
  if (Array.isArray(guards) && guards.length) {
    body.guards = (guards as GuardJson[]).map(({ code, dataset, partitions, message, hint, blocking }) => ({
      code,
      dataset,
      partitions,
      message: redact(message),
      hint: redact(hint),
      blocking,
    }));
  }
  return { error: body };
}
