/**
 * Library API for downstream consumers: what is configured, how deliveries stand, redelivery,
 * verification against the warehouse, and readiness. The CLI's `consumers …` and `ready` call these.
 * Nothing here returns a consumer's secret; configured values from the environment are redacted.
 */
import { awaitedConsumers } from '../consumers/awaiting.js';
import { describeTarget, isPauseConsumer, maxAttempts, subscriptions } from '../consumers/config.js';
import { countDeliveries, listDeliveries, newestDeliveries, type DeliveryStatus } from '../consumers/deliveries.js';
import { requeueAudited } from '../consumers/requeue.js';
import { dispatch, type DispatchOptions, type DispatchReport, type InternalDispatchOptions } from '../consumers/dispatcher.js';
import { enqueueNewEvents } from '../consumers/enqueue.js';
import { failedDelivery, hasFailed, type FailedDelivery } from '../consumers/failures.js';
import { readiness, type Readiness } from '../consumers/ready.js';
import { rangeReadiness, type RangeReadiness } from '../consumers/ready-range.js';
import { verifyRun, type VerifyReport } from '../consumers/verify.js';
import { TidemarkError } from '../errors.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';

export { dispatch, rangeReadiness, readiness, verifyRun };
export type { DispatchReport, FailedDelivery, RangeReadiness, Readiness, VerifyReport };

export interface ConsumerInfo {
  consumer: string;
  kind: string;
  target: string;
  datasets: string[];
  required: boolean;
  pause: boolean;
  signed: boolean;
  verify: boolean;
  max_attempts: number;
}

export function listConsumers(ws: Workspace): ConsumerInfo[] {
  const subs = subscriptions(ws.project);
  return Object.entries(ws.project.consumers).map(([name, c]) => ({
    consumer: name,
    kind: c.kind,
    target: describeTarget(c, ws.redact),
    datasets: subs.get(name) ?? [],
    required: c.required !== false,
    pause: isPauseConsumer(c),
    signed: c.kind === 'webhook' && Boolean(c.secret),
    verify: c.kind !== 'file' && Boolean(c.verify),
    max_attempts: maxAttempts(c),
  }));
}

export interface LastDelivery {
  event_id: number;
  event_type: string;
  run_id: string;
  status: DeliveryStatus;
  attempts: number;
  delivered_at: string | null;
  next_attempt_at: string | null;
  last_error: string | null;
}

export interface ConsumerStatus extends ConsumerInfo {
  delivered: number;
  pending: number;
  dead: number;
  last_delivery: LastDelivery | null;
}

export interface AwaitingRun {
  run_id: string;
  kind: string;
  published_at: string | null;
  /** Required consumers that have not acknowledged its run.published yet (pending or dead). */
  waiting_for: { consumer: string; status: DeliveryStatus; attempts: number; last_error: string | null }[];
}

export interface ConsumersStatus {
  consumers: ConsumerStatus[];
  /** Runs published but not complete. */
  awaiting: AwaitingRun[];
  /** Deliveries for consumers no longer in tidemark.yaml. */
  orphaned: { consumer: string; pending: number }[];
  /**
   * Deliveries to required consumers that could not be made: dead-lettered, or pending after a failed
   * attempt (`tidemark consumers status` exits 4 while there is one). Oldest first.
   */
  failing: FailedDelivery[];
}

export async function consumersStatus(ws: Workspace): Promise<ConsumersStatus> {
  // Counts are aggregated by the engine and only the few rows shown are read: the deliveries table
  // keeps every delivery ever made, so reading it whole grows with the project's age.
  const counts = await countDeliveries(ws.engine, ws.engine);
  const count = (consumer: string, status: DeliveryStatus) => counts.find((c) => c.consumer === consumer && c.status === status)?.n ?? 0;
  const newest = await newestDeliveries(ws.engine, ws.engine);
  const consumers: ConsumerStatus[] = listConsumers(ws).map((info) => {
    // The newest delivery that was attempted or settled, else the newest queued one.
    const mine = newest.filter((d) => d.consumer === info.consumer);
    const last = mine.find((d) => d.status !== 'pending' || d.attempts > 0) ?? mine[0];
    return {
      ...info,
      delivered: count(info.consumer, 'delivered'),
      pending: count(info.consumer, 'pending'),
      dead: count(info.consumer, 'dead'),
      last_delivery: last ? lastDelivery(last) : null,
    };
  });
  const orphaned = counts.filter((c) => !ws.project.consumers[c.consumer] && c.status === 'pending').map(({ consumer, n }) => ({ consumer, pending: n }));
  const failing = (await listDeliveries(ws.engine, ws.engine, { failed: true }))
    .filter((d) => ws.project.consumers[d.consumer] && hasFailed(d))
    .map((d) => failedDelivery(ws, d))
    .filter((f) => f.required)
    .reverse();
  return { consumers, awaiting: await runsAwaitingConsumers(ws), orphaned, failing };
}

function lastDelivery(d: LastDelivery): LastDelivery {
  const { event_id, event_type, run_id, status, attempts, delivered_at, next_attempt_at, last_error } = d;
  return { event_id, event_type, run_id, status, attempts, delivered_at, next_attempt_at, last_error };
}

/** Runs in status `published` (among the newest `limit`) whose required consumers have not all acknowledged yet (consumers/awaiting.ts). */
export async function runsAwaitingConsumers(ws: Workspace, limit = 50): Promise<AwaitingRun[]> {
  const { engine } = ws;
  const runs = await engine.query<{ run_id: string; kind: string; published_at: string | null }>(
    `SELECT run_id, kind, published_at FROM ${stateTable(engine, 'runs')} WHERE status = 'published' ORDER BY published_at DESC, run_id DESC LIMIT ${Math.max(1, Math.floor(limit))}`,
  );
  const awaited = await awaitedConsumers(ws, runs.map((r) => r.run_id));
  // Waiting for nobody (e.g. killed before its fan-out, with no consumer): complete in effect, not listed.
  return runs.filter((r) => awaited.get(r.run_id)!.length).map((r) => ({ ...r, waiting_for: awaited.get(r.run_id)! }));
}

export interface RedeliverRequest {
  consumer?: string;
  run?: string;
  /** Re-queue dead-lettered deliveries. */
  dead?: boolean;
  /** Why, for the audit record of a re-queue (`dead` or `run`). */
  reason?: string;
}

/** The reason recorded for a re-queue given none (core/mutations.ts). */
const REDELIVER_DEFAULT_REASON = 're-queue consumer deliveries';

export interface RedeliverReport extends DispatchReport {
  requeued: number;
  /**
   * Deliveries dead-lettered before this pass and left so (without `dead`; of `consumer` when given):
   * `dead` counts only what this pass dead-lettered, and "0 dead-lettered" alone would read as
   * "nothing is dead" while older dead letters still hold runs back.
   */
  dead_left: number;
}

/**
 * Delivers everything pending (new outbox events included). `--dead` re-queues dead-lettered
 * deliveries; `--run` re-queues a run's deliveries whatever their status (a forced re-send).
 */
export async function redeliver(ws: Workspace, request: RedeliverRequest = {}, options: Omit<DispatchOptions, 'consumer'> = {}): Promise<RedeliverReport> {
  if (request.consumer && !ws.project.consumers[request.consumer]) {
    throw new TidemarkError('USAGE', `unknown consumer '${request.consumer}'`, { hint: `consumers: ${Object.keys(ws.project.consumers).join(', ') || 'none'}` });
  }
  if (request.run) {
    const runs = await ws.engine.query(`SELECT 1 FROM ${stateTable(ws.engine, 'runs')} WHERE run_id = $1`, [request.run]);
    if (!runs.length) throw new TidemarkError('NOT_FOUND', `unknown run '${request.run}'`);
  }
  const { now: clock = Date.now }: InternalDispatchOptions = options;
  const now = new Date(clock()).toISOString();
  // Fan out events first, so a run's deliveries exist before they are re-queued.
  await enqueueNewEvents(ws, now);
  let requeued = 0;
  if (request.dead || request.run) {
    const statuses: DeliveryStatus[] = request.dead ? ['dead'] : ['dead', 'delivered'];
    // Audited: a re-queue overwrites what the deliveries were and makes consumers act again (consumers/requeue.ts).
    requeued = await requeueAudited(ws, { consumer: request.consumer, runId: request.run, statuses, reason: ws.redact(request.reason?.trim() || REDELIVER_DEFAULT_REASON) }, now);
  }
  const report = await dispatch(ws, { ...options, consumer: request.consumer });
  return { ...report, requeued, dead_left: request.dead ? 0 : (await deadDeliveries(ws, request.consumer)) - report.dead };
}

/** Dead deliveries of the configured consumers (or of one), counted by the engine. */
async function deadDeliveries(ws: Workspace, consumer?: string): Promise<number> {
  const counts = await countDeliveries(ws.engine, ws.engine);
  return counts.filter((c) => c.status === 'dead' && ws.project.consumers[c.consumer] && (!consumer || c.consumer === consumer)).reduce((n, c) => n + c.n, 0);
}
