/**
 * An ingest's task events. Its partitions are staged and validated together, from the files, not one
 * task at a time as a model's are; yet the progress bar (cli/progress.ts) and the console's live
 * picture (server/sse.ts) count `task.finished` against the run's tasks, as for run and backfill. So
 * every task starts when staging starts and finishes when the staged rows are validated and recorded:
 * `computed` with its rows; or `failed` when staging failed — the partitions a validation error names,
 * else all of them (a file that cannot be read fails the whole ingest).
 */
import { TidemarkError } from '../errors.js';
import type { RunContext } from './run-context.js';

export interface IngestProgress {
  started(): void;
  computed(rows: (partition: string) => number): void;
  failed(error: unknown): void;
}

export function ingestProgress(ctx: RunContext, dataset: string): IngestProgress {
  const { events } = ctx.ws;
  const base = { run_id: ctx.runId, dataset };
  const partitions = ctx.plan.tasks.map((t) => t.partition);
  return {
    started() {
      for (const partition of partitions) events.emit({ type: 'task.started', ...base, partition });
    },
    computed(rows) {
      for (const partition of partitions) events.emit({ type: 'task.finished', ...base, partition, status: 'computed', rows: rows(partition) });
    },
    failed(error) {
      // A cancelled run failed nothing: its tasks simply did not finish.
      if (error instanceof TidemarkError && error.code === 'CANCELLED') return;
      const named = error instanceof TidemarkError && error.code === 'VALIDATION' ? error.details.partitions : undefined;
      for (const partition of named ?? partitions) events.emit({ type: 'task.finished', ...base, partition, status: 'failed' });
    },
  };
}
