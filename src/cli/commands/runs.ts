/** `tidemark runs` and `tidemark cancel RUN` (issue 7). */
import type { Command } from 'commander';
import { loadProject } from '../../config/load.js';
import { TidemarkError } from '../../errors.js';
import { requestCancel, requestCancelByMarker } from '../../scheduler/cancel.js';
import { listRunSummaries, type RunSummary } from '../../scheduler/run-list.js';
import { globals, print, printJson, withWorkspace } from '../context.js';
import { parsePositiveInt } from './core.js';

export function registerRunsCommands(program: Command): void {
  program
    .command('runs')
    .description('recent runs: status, pool and task progress')
    .option('--limit <n>', 'how many runs', '20')
    .action(async (opts: { limit: string }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const runs = await listRunSummaries(ws.engine, parsePositiveInt(opts.limit, '--limit'), ws);
        if (g.json) return printJson(runs);
        if (!runs.length) return print('No runs yet.');
        const rows = runs.map((r) => [r.run_id, r.kind, r.interrupted ? `${r.status} (interrupted)` : r.status, r.pool, taskProgress(r.tasks), r.actor, r.created_at.slice(0, 19)]);
        print(table([['RUN', 'KIND', 'STATUS', 'POOL', 'TASKS', 'ACTOR', 'CREATED'], ...rows]));
        // Its status still says computing: say what it takes to finish or end it.
        if (runs.some((r) => r.interrupted)) print('\n(interrupted: its process is gone and nothing computes it; re-issue its command to resume it, or `tidemark cancel RUN`)');
      }),
    );

  program
    .command('cancel <run>')
    .description('stop a run between tasks; nothing is published, and re-issuing its command resumes it')
    .action(async (runId: string, _opts: unknown, cmd: Command) => {
      const g = globals(cmd);
      try {
        await withWorkspace(cmd, async (ws) => {
          const run = await requestCancel(ws.engine, ws.engine, runId, ws.project);
          if (g.json) printJson({ run_id: run.run_id, status: run.status });
          else if (run.status === 'cancelled') print(`Run ${run.run_id} is cancelled (no process was computing it); nothing was published. Re-issue its command to resume.`);
          else print(`Run ${run.run_id} is cancelling: it stops after the tasks in flight. Re-issue its command to resume.`);
        });
      } catch (error) {
        // A one-shot command holds the DuckDB file: nobody else can write the request there.
        if (!(error instanceof TidemarkError) || error.code !== 'LOCKED') throw error;
        const project = loadProject(g.project ?? process.cwd());
        requestCancelByMarker(project, runId);
        if (g.json) printJson({ run_id: runId, status: 'cancel_requested' });
        else print(`Cancel of run ${runId} requested from the process holding the project; it stops between tasks.`);
      }
    });
}

/**
 * Done (computed or skipped) over total, as the console's progress bar counts: a finished run reads
 * `245/245`, with how many were skipped (dependents whose upstream did not change) and failed.
 */
function taskProgress(t: RunSummary['tasks']): string {
  const notes = [t.skipped ? `${t.skipped} skipped` : '', t.failed ? `${t.failed} failed` : ''].filter(Boolean);
  return `${t.done}/${t.total}${notes.length ? ` (${notes.join(', ')})` : ''}`;
}

function table(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}
