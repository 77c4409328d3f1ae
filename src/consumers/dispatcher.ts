/**
 * The dispatcher: delivers outbox events to consumers after the publish committed.
 *
 * - At least once: a delivery is marked delivered only after the consumer acknowledged; a process
 *   killed in between delivers it again next time.
 * - In order per consumer: a consumer's next event waits until the previous one is delivered or
 *   dead-lettered. Consumers do not wait for each other: each round drains them side by side.
 * - Retries with exponential backoff (`backoff_ms`, doubling), dead-lettered after `max_attempts`.
 *   A retry is never sent before the delivery's `next_attempt_at`, whichever process sends it.
 * - Bounded: it stops at a deadline and leaves the rest pending for the next dispatch (the next
 *   publishing command, the timer of `tidemark serve`, or `tidemark consumers redeliver`).
 * - One pass per consumer at a time, in a process and across processes (claims.ts): a consumer whose
 *   events another process is delivering is looked at again after BUSY_ELSEWHERE_RETRY_MS, for at
 *   most BUSY_ELSEWHERE_PATIENCE_MS: that process delivers what is pending when it reads it, and a
 *   command must not stay open for its whole budget because a `serve` is busy with a slow consumer.
 *
 * Clock and sleep are injectable so tests can drive retries without waiting.
 */
import type { ConsumerConfig } from '../config/schema.js';
import type { Db } from '../engines/engine.js';
import { coerceError } from '../errors.js';
import type { Workspace } from '../workspace.js';
import { backoffMs, maxAttempts, subscriptions, timeoutMs } from './config.js';
import { openConsumerClaims, withConsumerClaim } from './claims.js';
import { completeRunIfAcknowledged } from './completion.js';
import { consumersWithPending, pendingFor, recordAttempt, type DeliveryStatus, type DeliveryWithEvent } from './deliveries.js';
import { enqueueNewEvents } from './enqueue.js';
import { eventBody, eventFromRow } from './events.js';
import { deliverOnce } from './kinds/index.js';

export interface DispatchOptions {
  /** Only this consumer. */
  consumer?: string;
  /** Only these consumers. */
  consumers?: string[];
  /**
   * One round: every delivery that is due now gets at most one attempt, and nothing waits for a
   * backoff (the early `run.started` dispatch and the server's timer; the caller comes back later).
   */
  once?: boolean;
  /** Stops starting attempts once aborted (the server shutting down); what is left stays pending. */
  signal?: AbortSignal;
  /** Give up (leaving the rest pending) after this long; default from the consumers' settings. */
  budgetMs?: number;
}

/** DispatchOptions with the clock and sleep tests drive retries with (not exported from the package: src/index.ts). */
export interface InternalDispatchOptions extends DispatchOptions {
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
}

export interface AttemptRecord {
  event_id: number;
  event_type: string;
  run_id: string;
  consumer: string;
  attempt: number;
  status: DeliveryStatus;
  error: string | null;
}

export interface DispatchReport {
  enqueued: number;
  attempts: AttemptRecord[];
  delivered: number;
  dead: number;
  /** Deliveries still waiting (backoff past the deadline, or unknown consumer). */
  pending: number;
  completed_runs: string[];
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** However many consumers and attempts, one in-process dispatch never holds a command longer. */
const MAX_DEFAULT_BUDGET_MS = 120_000;
/** How soon to look again at a consumer another process is delivering to (it may finish quickly). */
const BUSY_ELSEWHERE_RETRY_MS = 200;
/** How long to keep looking before leaving a consumer's events to the process delivering to it. */
const BUSY_ELSEWHERE_PATIENCE_MS = 5_000;

/** Enough time for every attempt of the slowest consumer: timeouts plus backoffs. */
export function defaultBudgetMs(ws: Workspace, env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = Number(env.TIDEMARK_DISPATCH_BUDGET_MS);
  if (Number.isFinite(fromEnv) && fromEnv >= 0 && env.TIDEMARK_DISPATCH_BUDGET_MS) return fromEnv;
  let budget = 0;
  for (const c of Object.values(ws.project.consumers)) {
    const n = maxAttempts(c);
    let total = n * timeoutMs(c);
    for (let i = 1; i < n; i++) total += backoffMs(c, i);
    budget = Math.max(budget, total);
  }
  return Math.min(budget, MAX_DEFAULT_BUDGET_MS);
}

export async function dispatch(ws: Workspace, options: DispatchOptions = {}): Promise<DispatchReport> {
  const { now = Date.now, sleep = realSleep }: InternalDispatchOptions = options;
  const deadline = now() + (options.budgetMs ?? defaultBudgetMs(ws));
  const report: DispatchReport = { enqueued: 0, attempts: [], delivered: 0, dead: 0, pending: 0, completed_runs: [] };
  const queued = await enqueueNewEvents(ws, new Date(now()).toISOString());
  report.enqueued = queued.deliveries;
  report.completed_runs.push(...queued.completed);
  const follows = subscriptions(ws.project);
  const wanted = (name: string) => (!options.consumer || name === options.consumer) && (!options.consumers || options.consumers.includes(name));
  const clock = { now, deadline, signal: options.signal };
  const patientUntil = Math.min(deadline, now() + BUSY_ELSEWHERE_PATIENCE_MS);
  const claims = openConsumerClaims(ws.engine);
  try {
    for (;;) {
      // A consumer removed from tidemark.yaml is left pending: `consumers status` shows it.
      const names = (await consumersWithPending(ws.engine, ws.engine)).filter((name) => wanted(name) && ws.project.consumers[name]);
      // Every pass ends before the claims' session closes, even when one of them failed.
      const passes = await Promise.allSettled(
        names.map(async (name) => {
          let wakeAt = Infinity;
          // Busy in another pass of this process (until our deadline): that pass delivers its events.
          await withConsumerClaim(
            ws.engine,
            name,
            Math.max(0, deadline - now()),
            async () => {
              const drain = async (db: Db) => void (wakeAt = await drainConsumer(ws, db, name, ws.project.consumers[name], follows.get(name) ?? [], clock, report));
              // Busy in another process: it delivers the events; look again soon (`once`: leave them to it).
              if (!(await claims.tryWith(name, drain)) && now() < patientUntil) wakeAt = now() + BUSY_ELSEWHERE_RETRY_MS;
            },
            options.signal,
          );
          return wakeAt;
        }),
      );
      const failed = passes.find((p): p is PromiseRejectedResult => p.status === 'rejected');
      if (failed) throw failed.reason;
      const wakeAt = Math.min(Infinity, ...passes.map((p) => (p as PromiseFulfilledResult<number>).value));
      if (options.once || options.signal?.aborted || wakeAt === Infinity || wakeAt > deadline) break;
      await sleep(Math.max(0, wakeAt - now()));
    }
  } finally {
    await claims.close();
  }
  for (const name of await consumersWithPending(ws.engine, ws.engine)) {
    if (wanted(name)) report.pending += (await pendingFor(ws.engine, ws.engine, name)).length;
  }
  // Two consumers' last acknowledgements may both complete the same run.
  report.completed_runs = [...new Set(report.completed_runs)];
  return report;
}

/**
 * Delivers a consumer's pending events in order until one has to wait; returns when to come back
 * (Infinity when nothing is left or the deadline passed).
 */
async function drainConsumer(
  ws: Workspace,
  db: Db,
  name: string,
  c: ConsumerConfig,
  follows: string[],
  clock: { now: () => number; deadline: number; signal?: AbortSignal },
  report: DispatchReport,
): Promise<number> {
  for (const d of await pendingFor(db, ws.engine, name)) {
    const due = d.next_attempt_at ? Date.parse(d.next_attempt_at) : 0;
    if (due > clock.now()) return due;
    if (clock.now() > clock.deadline || clock.signal?.aborted) return Infinity;
    const retryAt = await attempt(ws, db, name, c, follows, d, clock.now, report);
    if (retryAt !== null) return retryAt;
  }
  return Infinity;
}

/** One attempt, recorded in deliveries through `db`; returns when to retry, or null when the consumer may move on. */
async function attempt(
  ws: Workspace,
  db: Db,
  name: string,
  c: ConsumerConfig,
  follows: string[],
  d: DeliveryWithEvent,
  now: () => number,
  report: DispatchReport,
): Promise<number | null> {
  const event = eventFromRow(d as unknown as Record<string, unknown>);
  const n = d.attempts + 1;
  let error: string | null = null;
  try {
    await deliverOnce(ws, c, eventBody(ws, event), follows);
  } catch (e) {
    error = ws.redact(coerceError(e).message);
  }
  const at = new Date(now()).toISOString();
  const base = { event_id: d.event_id, event_type: d.event_type, run_id: d.run_id, consumer: name, attempt: n, error };
  if (error === null) {
    await recordAttempt(db, ws.engine, d, { status: 'delivered', attempts: n, next_attempt_at: null, last_error: d.last_error, delivered_at: at });
    report.attempts.push({ ...base, status: 'delivered' });
    report.delivered++;
    if (await completeRunIfAcknowledged(ws, event, db)) report.completed_runs.push(event.run_id);
    return null;
  }
  const dead = n >= maxAttempts(c);
  const retryAt = dead ? null : now() + backoffMs(c, n);
  await recordAttempt(db, ws.engine, d, {
    status: dead ? 'dead' : 'pending',
    attempts: n,
    next_attempt_at: retryAt === null ? null : new Date(retryAt).toISOString(),
    last_error: error,
    delivered_at: null,
  });
  report.attempts.push({ ...base, status: dead ? 'dead' : 'pending' });
  ws.events.emit({
    type: 'log',
    message: `consumer ${name}: ${d.event_type} of run ${d.run_id} not acknowledged (attempt ${n}/${maxAttempts(c)}): ${error}${dead ? ' — dead-lettered; `tidemark consumers redeliver --dead` retries it' : ''}`,
  });
  if (dead) report.dead++;
  return retryAt;
}
