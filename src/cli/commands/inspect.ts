/** status, partitions, query: read-only views of the warehouse and its state. */
import type { Command } from 'commander';
import { describeIncomplete } from '../../api/completeness.js';
import { listPartitions, query, status } from '../../api/operations.js';
import { print, printJson, withWorkspace } from '../context.js';
import { table } from '../render.js';

export function registerInspectCommands(program: Command): void {
  program
    .command('status')
    .description('datasets, partitions by state, runs in flight and failed runs')
    .action(async (_o: unknown, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const s = await status(ws);
        if (g.json) return printJson(s);
        print(`Project ${s.project} (${s.engine})`);
        print(table(s.datasets.map((d) => ({ dataset: d.dataset, kind: d.kind, grain: d.grain, published: d.published, stale: d.stale, missing: d.missing, failed: d.failed, rows: d.rows, range: d.first ? `${d.first}..${d.last}` : '', 'complete through': d.complete_through ?? '—' }))));
        // Why each dataset not complete through its last partition stops where it does (its watermark).
        const incomplete = s.datasets.map((d) => describeIncomplete(d.dataset, d)).filter((line): line is string => line !== null);
        if (incomplete.length) print(`\n${incomplete.join('\n')}`);
        if (s.active_runs.length) print(`\nRuns in flight:\n${table(s.active_runs)}`);
        if (s.interrupted_runs.length) print(`\nInterrupted runs (their process is gone; re-issue the command to resume, or \`tidemark cancel RUN\`):\n${table(s.interrupted_runs)}`);
        if (s.failed_runs.length) print(`\nFailed runs (re-issue the command to resume, or \`tidemark cancel RUN\` if nobody will):\n${table(s.failed_runs)}`);
        if (s.awaiting_consumers.length) print(`\nPublished, not complete (waiting for consumers; see \`tidemark consumers status\`):\n${table(s.awaiting_consumers.map((r) => ({ run_id: r.run_id, kind: r.kind, published_at: r.published_at, waiting_for: r.waiting_for.map((w) => `${w.consumer} (${w.status})`).join(', ') })))}`);
      }),
    );

  program
    .command('partitions <dataset>')
    .description('every partition of a dataset: state, version, rows, checksum, run')
    .action(async (dataset: string, _o: unknown, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const rows = await listPartitions(ws, dataset);
        if (g.json) return printJson(rows);
        print(table(rows.map((r) => ({ partition: r.partition, state: r.state, version: r.version, rows: r.rows, checksum: r.checksum?.slice(0, 12), run_id: r.run_id, published_at: r.published_at, why: [...(r.failed_run ? [`failed in run ${r.failed_run}`] : []), ...(r.stale_reasons ?? []), ...(r.protected ?? [])].join('; ') }))));
      }),
    );

  program
    .command('query <sql>')
    .description('read-only SQL against the warehouse')
    .action(async (sql: string, _o: unknown, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const rows = await query(ws, sql);
        if (g.json) printJson(rows);
        else print(table(rows));
      }),
    );
}
