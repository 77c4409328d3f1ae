/**
 * `tidemark worker`: a process that computes the tasks of queued runs (`backfill --detach`) together
 * with any number of other workers, on any number of machines, through the state store.
 *
 * Each of its `concurrency` lanes loops: claim a task (claim.ts), compute it (compute.ts), release the
 * slot, and publish the run if that was its last task (finish.ts). A heartbeat extends the leases of
 * everything the worker holds (lease.ts). Between claims, lane 0 sweeps: tasks of dead workers go
 * back to pending, runs whose publisher died get published, cancel requests take effect.
 *
 * Stopping (SIGTERM/SIGINT, or `drain` once no queued run is left) finishes the tasks in flight first.
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { Connection } from '../engines/engine.js';
import { coerceError, TidemarkError } from '../errors.js';
import { dispatch } from '../consumers/dispatcher.js';
import { crashPoint } from '../execute/crash.js';
import type { RunContext } from '../execute/run-context.js';
import type { Workspace } from '../workspace.js';
import { claimNextTask, ensurePoolSlots, poolsByPriority, releaseSlot, unclaimTask, type ClaimedTask } from './claim.js';
import { computeClaimedTask } from './compute.js';
import { abortableSleep } from './abortable-sleep.js';
import { activeWorkerRuns, failRun, finishCancelled, publishIfComplete } from './finish.js';
import { extendLeases, leaseMs as defaultLeaseMs, MAX_ATTEMPTS, reclaimExpiredTasks } from './lease.js';
import { requireMultiWriter } from './multi-writer.js';
import { loadRunContext } from './run-context.js';
import { requirePool } from '../scheduler/pools.js';

/** Lanes per worker process; each holds one connection of the engine's pool. */
const MAX_CONCURRENCY = 8;

export interface WorkerOptions {
  /** Pools to take tasks from (default: all, highest priority first). */
  pools?: string[];
  /** Tasks computed at once by this process (default 1). */
  concurrency?: number;
  leaseMs?: number;
  /** Exit once no queued or computing run is left (instead of waiting for new ones). */
  drain?: boolean;
  /** Wait between claims when there is nothing to do. */
  pollMs?: number;
  /** Stops the worker (after the tasks in flight) when aborted. */
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface WorkerReport {
  worker: string;
  computed: number;
  skipped: number;
  failed: number;
  lost: number;
  reclaimed: number;
  published: string[];
}

export function newWorkerId(): string {
  return `${os.hostname()}:${process.pid}:${randomBytes(2).toString('hex')}`;
}

export async function runWorker(ws: Workspace, options: WorkerOptions = {}): Promise<WorkerReport> {
  const { engine, project } = ws;
  requireMultiWriter(engine, 'tidemark worker');
  for (const p of options.pools ?? []) requirePool(project.pools, p);
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > MAX_CONCURRENCY) {
    // Each lane holds a connection of the engine's pool (10), which the heartbeat and publish share.
    throw new TidemarkError('USAGE', `--concurrency must be between 1 and ${MAX_CONCURRENCY}, got ${concurrency}`, { hint: 'for more, start more worker processes' });
  }
  const id = newWorkerId();
  const leaseMs = options.leaseMs ?? defaultLeaseMs();
  const pollMs = options.pollMs ?? Math.min(500, Math.max(50, Math.floor(leaseMs / 4)));
  const pools = poolsByPriority(project, options.pools);
  const log = options.log ?? (() => undefined);
  const report: WorkerReport = { worker: id, computed: 0, skipped: 0, failed: 0, lost: 0, reclaimed: 0, published: [] };
  await ensurePoolSlots(engine, project.pools);

  let stopping = false;
  let fatal: TidemarkError | null = null;
  const stop = () => (stopping = true);
  options.signal?.addEventListener('abort', stop);
  if (options.signal?.aborted) stop();
  const sleep = (ms: number) => abortableSleep(ms, options.signal);

  const heartbeat = setInterval(() => void extendLeases(engine, engine, id, leaseMs).catch((e) => log(`heartbeat failed: ${coerceError(e).message}`)), Math.max(30, Math.floor(leaseMs / 3)));
  heartbeat.unref();

  // Contexts are rebuilt from the state store once per run and worker.
  const contexts = new Map<string, Promise<RunContext>>();
  const contextOf = (runId: string) => {
    let c = contexts.get(runId);
    if (!c) contexts.set(runId, (c = loadRunContext(ws, runId).then((r) => r.ctx)));
    c.catch(() => contexts.delete(runId));
    return c;
  };

  const publish = async (runId: string) => {
    const seq = await publishIfComplete(await contextOf(runId));
    if (seq === null) return;
    report.published.push(runId);
    log(`published run ${runId} (publish ${seq})`);
    contexts.delete(runId);
    // Consumers hear about the publish now, not when this long-lived process exits.
    await dispatch(ws).catch((e) => log(`consumers: ${coerceError(e).message}`));
  };

  const sweep = async () => {
    const reclaimed = await reclaimExpiredTasks(engine, project, { workerId: id, actor: ws.actor, command: ws.command });
    report.reclaimed += reclaimed.length;
    for (const t of reclaimed) log(`lease of ${t.worker} on ${t.dataset} ${t.partition} (run ${t.run_id}) expired: ${t.attempts + 1 >= MAX_ATTEMPTS ? 'run failed' : 'retrying'}`);
    const stalePublish = new Date(Date.now() - 2 * leaseMs).toISOString();
    for (const run of await activeWorkerRuns(engine)) {
      if (run.status === 'cancelling') {
        if (await finishCancelled(engine, run.run_id)) log(`run ${run.run_id} cancelled`);
      } else if (run.status !== 'publishing' || run.updated_at < stalePublish) {
        await publish(run.run_id);
      }
    }
  };

  const runTask = async (conn: Connection, claim: ClaimedTask) => {
    log(`claimed ${claim.dataset} ${claim.partition} (run ${claim.run_id}, attempt ${claim.attempt}, pool ${claim.pool} slot ${claim.slot})`);
    crashPoint('worker.claimed');
    let ctx: RunContext;
    try {
      ctx = await contextOf(claim.run_id);
    } catch (error) {
      // This worker cannot compute the run (e.g. another project version): the task goes back.
      await unclaimTask(engine, engine, claim, id).catch(() => undefined);
      await releaseSlot(engine, engine, claim, id).catch(() => undefined);
      throw error;
    }
    try {
      const outcome = await computeClaimedTask(ctx, conn, claim, id);
      if (outcome.status === 'lost') {
        report.lost++;
        log(`lost ${claim.dataset} ${claim.partition}: its lease expired and another worker took it`);
        return;
      }
      crashPoint('task.computed');
      if (outcome.status === 'computed') report.computed++;
      else report.skipped++;
    } catch (error) {
      report.failed++;
      const err = coerceError(error);
      const message = ws.redact(err.message);
      log(`failed ${claim.dataset} ${claim.partition}: ${message}`);
      await failRun(engine, claim.run_id, message, err);
      return;
    } finally {
      await releaseSlot(engine, engine, claim, id).catch(() => undefined);
    }
    await publish(claim.run_id);
  };

  const lane = async (index: number) => {
    const conn = await engine.connect();
    let lastSweep = 0;
    try {
      while (!stopping) {
        try {
          if (index === 0 && Date.now() - lastSweep >= pollMs) {
            lastSweep = Date.now();
            await sweep();
          }
          const claim = await claimNextTask(conn, engine, project, { id, pools, leaseMs });
          if (claim) {
            await runTask(conn, claim);
            continue;
          }
          if (options.drain && !(await activeWorkerRuns(engine)).length) break;
          await sleep(pollMs);
        } catch (error) {
          const err = coerceError(error);
          if (err.code === 'CONFIG') {
            // A worker that cannot compute what was queued stops rather than fail runs or spin.
            fatal ??= err;
            stopping = true;
            break;
          }
          // The store may be briefly unreachable; the worker keeps going (its leases expire if it cannot).
          log(`error: ${err.message}`);
          await sleep(pollMs);
        }
      }
    } finally {
      await conn.close().catch(() => undefined);
    }
  };

  log(`worker ${id} started: pools ${pools.join(', ')}, concurrency ${concurrency}, lease ${leaseMs} ms`);
  try {
    await Promise.all(Array.from({ length: concurrency }, (_, i) => lane(i)));
  } finally {
    clearInterval(heartbeat);
    options.signal?.removeEventListener('abort', stop);
  }
  if (fatal) throw fatal;
  log(`worker ${id} stopped: ${report.computed} computed, ${report.skipped} skipped, ${report.failed} failed, ${report.published.length} run(s) published`);
  return report;
}
