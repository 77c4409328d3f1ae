/**
 * The numbers of RunOptions, checked as the CLI checks its flags (`--max-parallel`, `--rate`): a
 * library caller hands them over as they are. Unchecked, `maxParallel: NaN` opened no connection and
 * computed no task, yet the run was recorded published; `Infinity` opened connections without end;
 * a `rate` of 0, below 0 or NaN ran unthrottled without a word.
 */
import { usageError } from '../errors.js';
import type { RunOptions } from './run-context.js';

export function assertRunNumbers(options: Pick<RunOptions, 'maxParallel' | 'rate'>): void {
  const { maxParallel, rate } = options;
  if (maxParallel !== undefined && !(Number.isInteger(maxParallel) && maxParallel >= 1)) {
    throw usageError(`--max-parallel (maxParallel) must be a positive integer, got '${String(maxParallel)}'`, 'leave it out for the default (2 tasks at a time)');
  }
  if (rate !== undefined && !(Number.isFinite(rate) && rate > 0)) {
    throw usageError(`--rate (rate, partitions started per minute) must be a number above 0, got '${String(rate)}'`, 'leave it out to start tasks as slots allow; 0.5 is 30 an hour');
  }
}
