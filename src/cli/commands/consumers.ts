/**
 * consumers list|status|redeliver|verify, and ready: downstream notifications and readiness.
 * Exit codes: verify finds a mismatch → 4; status finds a required consumer that could not be
 * notified (a dead-lettered delivery, or a pending one whose last attempt failed) → 4; ready says not
 * ready → 3; redeliver leaves deliveries unacknowledged → 1.
 */
import type { Command } from 'commander';
import { consumersStatus, listConsumers, rangeReadiness, readiness, redeliver, type ConsumersStatus, type RangeReadiness, type Readiness } from '../../api/consumers.js';
import { loadProject } from '../../config/load.js';
import { getDataset } from '../../config/project.js';
import { parsePartitionKey } from '../../core/grain.js';
import { askConsumers, readWarehouse } from '../../consumers/verify.js';
import { TidemarkError, usageError } from '../../errors.js';
import { globals, lookAtProject, print, printJson, withWorkspace, type GlobalOptions } from '../context.js';
import { table } from '../render.js';
import { describeFailure } from '../../consumers/failures.js';
import { resolveRange } from '../../plan/build.js';
import { lastCount, lastPartition, rangeFlags } from '../range-flags.js';

export function registerConsumersCommands(program: Command): void {
  const consumers = program.command('consumers').description('downstream consumers: webhooks, commands, SQL refreshes and ready-marker files');

  consumers
    .command('list')
    .description('configured consumers and the datasets they follow')
    .action(async (_o: unknown, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const rows = listConsumers(ws);
        if (g.json) return printJson(rows);
        print(table(rows.map((c) => ({ consumer: c.consumer, kind: c.kind, datasets: c.datasets.join(', '), required: c.required, pause: c.pause, verify: c.verify, target: c.target }))));
      }),
    );

  consumers
    .command('status')
    .description('deliveries per consumer (delivered, pending, dead, last delivery) and runs waiting for consumers; exit 4 while a required consumer could not be notified')
    .action(async (_o: unknown, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const s = await consumersStatus(ws);
        if (g.json) printJson(s);
        else printStatus(s);
        if (s.failing.length) {
          const dead = s.failing.some((f) => f.status === 'dead');
          throw new TidemarkError('CHECK_FAILED', `${s.failing.length} delivery(ies) to required consumers failed: ${describeFailure(s.failing[0])}${s.failing.length > 1 ? '; …' : ''}`, {
            hint: dead ? 'fix the consumer, then `tidemark consumers redeliver --dead`' : 'pending deliveries are retried with backoff (by the next command, `tidemark serve`, or `tidemark consumers redeliver`)',
          });
        }
      }),
    );

  consumers
    .command('redeliver')
    .description('deliver pending events now; --dead re-queues dead-lettered ones, --run re-sends a run')
    .option('--consumer <name>', 'only this consumer')
    .option('--run <id>', "re-queue this run's deliveries (delivered ones too)")
    .option('--dead', 're-queue dead-lettered deliveries')
    .option('--reason <text>', 'why (recorded in the audit trail with each re-queued delivery)')
    .action(async (f: { consumer?: string; run?: string; dead?: boolean; reason?: string }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const r = await redeliver(ws, f);
        const deadLeft = r.dead_left;
        if (g.json) printJson(r);
        else {
          print(`${r.requeued} re-queued, ${r.delivered} delivered, ${r.pending} pending, ${r.dead} dead-lettered.`);
          for (const a of r.attempts.filter((x) => x.error)) print(`  ${a.consumer} ${a.event_type} ${a.run_id} attempt ${a.attempt}: ${a.error}`);
          if (r.completed_runs.length) print(`Complete: ${r.completed_runs.join(', ')}`);
          if (deadLeft > 0) print(`${deadLeft} delivery(ies) dead-lettered earlier were left as they are: \`tidemark consumers redeliver --dead\` re-queues them.`);
        }
        if (r.pending || r.dead) {
          throw new TidemarkError('INTERNAL', `${r.pending + r.dead} delivery(ies) not acknowledged (${r.pending} pending, ${r.dead} dead-lettered)`, {
            hint: 'see `tidemark consumers status`; fix the consumer, then `tidemark consumers redeliver --dead`',
          });
        }
      }),
    );

  consumers
    .command('verify <run>')
    .description("compare what consumers serve with the warehouse for every partition the run published (exit 4 on mismatch)")
    .option('--consumer <name>', 'only this consumer')
    .action(async (runId: string, f: { consumer?: string }, cmd: Command) => {
      const g = globals(cmd);
      // The project is closed before the consumers are asked: a dashboard answering a cache miss
      // reads the warehouse, which on DuckDB it cannot do while this process holds the file.
      const reading = await withWorkspace(cmd, (ws) => readWarehouse(ws, runId, f));
      const r = await askConsumers(reading);
      if (g.json) printJson(r);
      else {
        print(`Verified ${r.checked} partition(s) of run ${r.run_id}: ${r.mismatches.length} mismatch(es), ${r.errors.length} error(s).`);
        if (r.mismatches.length) print(table(r.mismatches.map(({ consumer, dataset, partition, consumer_value, warehouse_value }) => ({ consumer, dataset, partition, consumer_value, warehouse_value }))));
        for (const e of r.errors) print(`  ${e.consumer} ${e.dataset} ${e.partition}: ${e.error}`);
        if (r.unverifiable.length) print(`No verify block (not checked): ${r.unverifiable.join(', ')}`);
        else if (!r.checked) print(`No consumer${f.consumer ? ` named ${f.consumer}` : ''} follows the datasets this run published: nothing to verify.`);
      }
      if (r.mismatches.length) {
        const shown = r.mismatches.slice(0, 5).map((m) => `${m.consumer} ${m.dataset} ${m.partition}: ${String(m.consumer_value)} ≠ ${String(m.warehouse_value)}`);
        throw new TidemarkError('CHECK_FAILED', `${r.mismatches.length} partition(s) disagree with the warehouse: ${shown.join('; ')}${r.mismatches.length > 5 ? '; …' : ''}`, {
          hint: `the consumer still serves old values; \`tidemark consumers redeliver --run ${runId}\` re-sends the invalidation`,
        });
      }
      if (r.errors.length) throw new TidemarkError('INTERNAL', `${r.errors.length} partition(s) could not be verified: ${r.errors[0].error}`);
    });

  program
    .command('ready <dataset>')
    .description('exit 0 when the partition (default: the newest), or every partition of --from..--to, is published, not held by a run in flight and not stale (directly or through what it reads), 3 otherwise')
    .option('--partition <key>', 'the partition (default: the newest published)')
    .option('--from <date>', 'first partition of a range (inclusive); with --json a range prints {dataset, from, to, ready, reason, partitions}, each partition as --partition prints it')
    .option('--to <date>', 'last partition of a range (inclusive)')
    .option('--last <span>', 'the last N partitions (e.g. 7d), counted back from --to or the newest published one')
    .option('--timeout <seconds>', 'with --wait: give up after this long', '300')
    .action(async (dataset: string, f: { partition?: string } & RangeFlags & { timeout: string }, cmd: Command) => {
      const g = globals(cmd);
      // `--wait` is the global option (wait for a held project); for ready it means: poll until ready.
      const wait = g.wait !== undefined && g.wait !== false;
      const timeoutS = Number(f.timeout);
      if (!Number.isFinite(timeoutS) || timeoutS < 0) throw usageError(`--timeout must be a number of seconds, got '${f.timeout}'`);
      const range = rangeOf(dataset, f);
      const deadline = Date.now() + timeoutS * 1000;
      for (;;) {
        const r = range ? await checkRangeReady(g, dataset, range) : await checkReady(g, dataset, f.partition);
        if (r.ready || !wait || Date.now() >= deadline) {
          // Not ready is said once, as the error line (stderr); --json still prints the whole answer.
          if (g.json) printJson(r);
          else if (r.ready) print('partitions' in r ? `ready: ${dataset} ${r.from}..${r.to} (${r.partitions.length} partition(s))` : `ready: ${dataset} ${r.partition} (version ${r.version})`);
          if (!r.ready) throw new TidemarkError('GUARD', `not ready: ${r.reason}`, { hint: wait ? `still not ready after ${timeoutS} s` : 'add --wait --timeout SECONDS to wait for it' });
          return;
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, Math.max(0, deadline - Date.now()))));
      }
    });
}

type RangeFlags = { from?: string; to?: string; last?: string };

/**
 * A range's answer as `ready` prints it: from and to are null when `--last N` has no newest partition
 * to count back from (none published yet, or another process writes the DuckDB file); partitions is then empty.
 */
type RangeAnswer = Omit<RangeReadiness, 'from' | 'to'> & { from: string | null; to: string | null };

/** The range flags when a range is asked, checked for what needs no project (the keys are checked as backfill checks them). */
function rangeOf(dataset: string, f: { partition?: string } & RangeFlags): RangeFlags | null {
  if (f.from === undefined && f.to === undefined && f.last === undefined) return null;
  if (f.partition !== undefined) throw usageError('--partition names one partition and --from/--to/--last a range: give one of them', `tidemark ready ${dataset} --partition KEY, or --from KEY --to KEY, or --last 7d`);
  if (f.last === undefined && (f.from === undefined || f.to === undefined)) throw usageError('a range needs both --from and --to (inclusive partition keys), or --last N', `e.g. tidemark ready ${dataset} --from ${f.from ?? f.to} --to ${f.to ?? f.from}`);
  return f;
}

/**
 * A DuckDB project being written by another process right now is not ready. The asked key is still
 * checked then, so a malformed date is exit 2 whether or not the file is held.
 */
async function checkReady(g: GlobalOptions, dataset: string, partition: string | undefined): Promise<Readiness> {
  const look = await lookAtProject(g, (ws) => readiness(ws, dataset, partition));
  if ('value' in look) return look.value;
  const key = partition === undefined ? null : parsePartitionKey(partition, getDataset(loadProject(g.project ?? process.cwd()), dataset).grain);
  return heldPartition(dataset, key, look.held.message);
}

/** A partition's answer while another process writes the DuckDB file: not ready, for that reason. */
function heldPartition(dataset: string, partition: string | null, reason: string): Readiness {
  return { dataset, partition, ready: false, version: null, publish_seq: null, reason, held_by: [], stale_because: null };
}

/**
 * checkReady for a range: one look per poll, each opened and closed, so that a waiting `ready` never
 * keeps out the backfill it waits for; `--last` counts back from the newest partition as it is at
 * that look. While another process writes the DuckDB file, every partition of the range is not
 * ready, for that reason; the keys are still checked, so bad dates are exit 2. A range counted back
 * from the newest partition cannot be named then, nor before the first publish (from, to null; no
 * partitions).
 */
async function checkRangeReady(g: GlobalOptions, dataset: string, flags: RangeFlags): Promise<RangeAnswer> {
  const look = await lookAtProject(g, async (ws): Promise<RangeAnswer> => {
    const grain = getDataset(ws.project, dataset).grain;
    const newest = flags.last !== undefined && flags.to === undefined ? await lastPartition(ws, dataset) : undefined;
    // Nothing published yet is not ready (a job may wait for the first build), not bad input.
    if (newest === null) {
      lastCount(flags.last!, grain);
      return { dataset, from: null, to: null, ready: false, reason: `${dataset} has no published partition`, partitions: [] };
    }
    const { from, to } = await rangeFlags(flags, grain, async () => newest ?? null);
    return rangeReadiness(ws, dataset, from, to);
  });
  if ('value' in look) return look.value;
  const project = loadProject(g.project ?? process.cwd());
  const reason = look.held.message;
  const grain = getDataset(project, dataset).grain;
  if (flags.last !== undefined && flags.to === undefined) {
    lastCount(flags.last, grain); // its syntax is checked all the same
    return { dataset, from: null, to: null, ready: false, reason, partitions: [] };
  }
  const given = await rangeFlags(flags, grain, async () => null);
  const keys = resolveRange(project, dataset, given.from, given.to);
  const partitions = keys.map((partition) => heldPartition(dataset, partition, reason));
  return { dataset, from: keys[0], to: keys[keys.length - 1], ready: false, reason, partitions };
}

function printStatus(s: ConsumersStatus): void {
  print(
    table(
      s.consumers.map((c) => ({
        consumer: c.consumer,
        kind: c.kind,
        datasets: c.datasets.join(', '),
        delivered: c.delivered,
        pending: c.pending,
        dead: c.dead,
        last: c.last_delivery ? `${c.last_delivery.event_type} ${c.last_delivery.run_id} ${c.last_delivery.status} (${c.last_delivery.attempts} attempt(s))` : '',
        last_error: c.last_delivery?.last_error ?? '',
      })),
    ),
  );
  if (s.awaiting.length) {
    print('\nRuns published but not complete (waiting for required consumers):');
    print(table(s.awaiting.map((r) => ({ run_id: r.run_id, kind: r.kind, published_at: r.published_at, waiting_for: r.waiting_for.map((w) => `${w.consumer} (${w.status})`).join(', ') }))));
  }
  if (s.failing.length) {
    print('\nRequired consumers that could not be notified:');
    for (const f of s.failing) print(`  ${describeFailure(f)}`);
  }
  for (const o of s.orphaned) print(`\nnote: ${o.pending} pending delivery(ies) for '${o.consumer}', which is no longer in tidemark.yaml`);
}
