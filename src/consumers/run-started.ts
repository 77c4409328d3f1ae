/**
 * `run.started` is a warning ("a backfill is starting on these partitions"), so it is worth something
 * only before the run computes. The executor calls this right after the run's creation committed
 * (the event is in the outbox by then) and before compute starts; the command's own dispatch after
 * it published, or the timer of `tidemark serve`, takes whatever is left.
 *
 * - No consumer to tell (none configured, or none following a planned dataset and taking
 *   `run.started`): returns at once, without touching the state store.
 * - Bounded: one round, each due delivery tried once, no waiting for backoffs, and no attempt
 *   started after the slowest recipient's `timeout_ms` (an attempt in flight ends by its timeout).
 *   Recipients are told side by side, so a dead webhook costs the run about one timeout.
 * - A failure never fails the run: the delivery stays pending with its backoff, and is retried.
 * - In order per consumer, as every dispatch: older pending events of a consumer go first, and one
 *   still in backoff holds its `run.started` back.
 *
 * Pausing consumers (`pause: true`) were asked with `run.starting` before the run existed
 * (pause.ts); they get `run.started` here too, like any webhook.
 */
import type { Plan } from '../plan/types.js';
import { coerceError } from '../errors.js';
import type { Workspace } from '../workspace.js';
import { acceptsEvent, subscriptions, timeoutMs } from './config.js';
import { dispatch } from './dispatcher.js';

/** Consumers that take `run.started` and follow a dataset the plan writes (decided without the state store). */
export function runStartedRecipients(ws: Workspace, plan: Plan): string[] {
  const planned = new Set(plan.datasets.map((d) => d.dataset));
  const out: string[] = [];
  for (const [name, follows] of subscriptions(ws.project)) {
    if (acceptsEvent(ws.project.consumers[name], 'run.started') && follows.some((d) => planned.has(d))) out.push(name);
  }
  return out;
}

export async function deliverRunStarted(ws: Workspace, plan: Plan, runId: string): Promise<void> {
  const names = runStartedRecipients(ws, plan);
  if (!names.length) return;
  const budgetMs = Math.max(...names.map((name) => timeoutMs(ws.project.consumers[name])));
  try {
    const report = await dispatch(ws, { consumers: names, once: true, budgetMs });
    const told = report.attempts.filter((a) => a.run_id === runId && a.event_type === 'run.started' && a.status === 'delivered').map((a) => a.consumer);
    if (told.length) ws.events.emit({ type: 'log', message: `consumers told the run is starting: ${told.join(', ')}` });
  } catch (error) {
    ws.events.emit({ type: 'log', message: `consumers: run.started not delivered before compute (${ws.redact(coerceError(error).message)}); it stays pending and is retried` });
  }
}
