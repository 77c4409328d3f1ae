/** `tidemark worker` and `tidemark wait RUN` (issue 8); `backfill --detach` lives with backfill (core.ts). */
import type { Command } from 'commander';
import { usageError } from '../../errors.js';
import { runWorker } from '../../workers/worker.js';
import { followRun, lookAtRun } from '../../workers/wait.js';
import { globals, lookAtProject, print, printJson, withWorkspace } from '../context.js';
import { parsePositiveInt } from './core.js';

export function registerWorkerCommands(program: Command): void {
  program
    .command('worker')
    .description('compute the tasks of queued runs (backfill --detach) with other workers, through a PostgreSQL state store')
    .option('--pool <name...>', 'take tasks only from these pools (default: all, highest priority first)')
    .option('--concurrency <n>', 'tasks computed at once by this process', '1')
    .option('--drain', 'exit once no queued run is left instead of waiting for new ones')
    .action(async (f: { pool?: string[]; concurrency: string; drain?: boolean }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const stop = new AbortController();
        // SIGTERM/SIGINT: stop claiming, finish the tasks in flight, exit 0.
        const onSignal = () => stop.abort();
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
        try {
          const report = await runWorker(ws, {
            pools: f.pool,
            concurrency: parsePositiveInt(f.concurrency, '--concurrency'),
            drain: f.drain,
            signal: stop.signal,
            log: (line) => process.stderr.write(`${new Date().toISOString()} ${line}\n`),
          });
          if (g.json) printJson(report);
        } finally {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
        }
      }),
    );

  program
    .command('wait <run>')
    .description('wait until a run is published; exit 1 if it fails, is cancelled or the timeout passes')
    .option('--timeout <seconds>', 'give up after this long', '3600')
    .action(async (runId: string, f: { timeout: string }, cmd: Command) => {
      const g = globals(cmd);
      const seconds = Number(f.timeout);
      if (!Number.isFinite(seconds) || seconds <= 0) throw usageError(`--timeout must be a positive number of seconds, got '${f.timeout}'`);
      const say = (line: string) => (g.json ? undefined : process.stderr.write(`${line}\n`));
      // Each look opens the project and closes it again: on DuckDB the run waited for may be a command
      // that needs the file (a re-issued backfill), which a wait holding it would keep out.
      const run = await followRun(
        async () => {
          const look = await lookAtProject(g, (ws) => lookAtRun(ws.engine, runId));
          return 'value' in look ? look.value : { held: look.held.message };
        },
        runId,
        {
          timeoutMs: seconds * 1000,
          pollMs: 500,
          onProgress: (r, counts) => say(`${r.run_id}: ${r.status}, ${Object.entries(counts).map(([s, n]) => `${n} ${s}`).join(', ')}`),
          onHeld: (reason) => say(`${runId}: the project is being written (${reason}); waiting`),
        },
      );
      if (g.json) printJson({ run_id: run.run_id, status: run.status, publish_seq: run.publish_seq, published_at: run.published_at });
      else print(`Run ${run.run_id} ${run.status} (publish ${run.publish_seq}).`);
    });
}
