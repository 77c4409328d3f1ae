/**
 * In-process notification after a CLI command that wrote: once its run published (or failed), the
 * command delivers pending outbox events before it exits, within a bounded time. Whatever is not
 * acknowledged by then stays pending for the next dispatch. Delivery problems never change the
 * command's own outcome (the publish already committed; DESIGN.md gives no exit code for them), but
 * they are reported: one `warning:` line per consumer that could not be notified of this command's
 * runs on stderr, and a `deliveries` field in the command's `--json` object.
 *
 * That field needs the dispatch to have happened, and a command prints its JSON just before it
 * returns: so while a command that started a run is running, `printJson` hands its object here
 * (`deferJson`) and it is printed after the dispatch, with `deliveries` added.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { coerceError } from '../errors.js';
import type { Workspace } from '../workspace.js';
import { hasConsumers } from './config.js';
import { listDeliveries } from './deliveries.js';
import { dispatch, type DispatchReport } from './dispatcher.js';
import { describeFailure, failedDelivery, hasFailed, type FailedDelivery } from './failures.js';

/** How this command's runs' deliveries stand after its dispatch (the `deliveries` JSON field). */
export interface CommandDeliveries {
  delivered: number;
  /** Not acknowledged yet; retried (by the next dispatch, `tidemark serve`, or `consumers redeliver`). */
  pending: number;
  dead: number;
  /** Dead-lettered, or pending after a failed attempt: the consumers that could not be notified. */
  failed: FailedDelivery[];
}

interface CommandScope {
  runIds: Set<string>;
  deferred?: { value: Record<string, unknown>; print: (value: unknown) => void };
  /** A deferred object is being printed: print, do not defer again. */
  flushing: boolean;
}

const scope = new AsyncLocalStorage<CommandScope>();

/** Where warnings go: the terminal's stderr, or the client's when the command runs inside `tidemark serve`. */
export type WarningSink = (text: string) => void;

const toStderr: WarningSink = (text) => void process.stderr.write(text);

export async function deliverAfter<T>(ws: Workspace, fn: () => Promise<T>, stderr: WarningSink = toStderr): Promise<T> {
  const state: CommandScope = { runIds: new Set(), flushing: false };
  const off = ws.events.on((e) => {
    if (e.type === 'run.started' || e.type === 'run.published' || e.type === 'run.failed') state.runIds.add(e.run_id);
  });
  try {
    return await scope.run(state, fn);
  } finally {
    off();
    const deliveries = state.runIds.size ? await deliverPendingQuietly(ws, [...state.runIds], stderr) : undefined;
    const deferred = state.deferred;
    if (deferred) printNow(state, deliveries ? { ...deferred.value, deliveries } : deferred.value, deferred.print);
  }
}

/** Prints through the CLI's printer without it handing the object back here. */
function printNow(state: CommandScope, value: unknown, print: (value: unknown) => void): void {
  state.flushing = true;
  try {
    print(value);
  } finally {
    state.flushing = false;
  }
}

/**
 * Called by the CLI's `printJson`: true when it took the object, to print once the command's
 * deliveries are known (only a JSON object, only in a command that started a run).
 */
export function deferJson(value: unknown, print: (value: unknown) => void): boolean {
  const state = scope.getStore();
  if (!state || state.flushing || !state.runIds.size) return false;
  if (!value || typeof value !== 'object' || Array.isArray(value)) return false;
  // A second object (no command prints two today): the first goes out now, as it was.
  if (state.deferred) printNow(state, state.deferred.value, state.deferred.print);
  state.deferred = { value: value as Record<string, unknown>, print };
  return true;
}

async function deliverPendingQuietly(ws: Workspace, runIds: string[], stderr: WarningSink): Promise<CommandDeliveries | undefined> {
  let report: DispatchReport | undefined;
  try {
    report = await dispatch(ws);
  } catch (error) {
    stderr(`warning: consumers: delivery interrupted: ${ws.redact(coerceError(error).message)}; \`tidemark consumers redeliver\` retries\n`);
  }
  try {
    const deliveries = await deliveriesOf(ws, runIds);
    warn(deliveries, report, stderr);
    return deliveries;
  } catch {
    return undefined; // the workspace failed under us: the warning above said so
  }
}

async function deliveriesOf(ws: Workspace, runIds: string[]): Promise<CommandDeliveries> {
  const out: CommandDeliveries = { delivered: 0, pending: 0, dead: 0, failed: [] };
  // No consumer: nothing can have been fanned out.
  if (!hasConsumers(ws.project)) return out;
  for (const runId of runIds) {
    for (const d of (await listDeliveries(ws.engine, ws.engine, { runId })).reverse()) {
      out[d.status]++;
      if (hasFailed(d)) out.failed.push(failedDelivery(ws, d));
    }
  }
  return out;
}

function warn(mine: CommandDeliveries, report: DispatchReport | undefined, stderr: WarningSink): void {
  for (const f of mine.failed) stderr(`warning: ${describeFailure(f)}\n`);
  const queued = mine.pending - mine.failed.filter((f) => f.status === 'pending').length;
  if (queued > 0) stderr(`warning: consumers: ${queued} delivery(ies) of this command's run(s) not attempted yet (deadline reached); they stay pending\n`);
  const earlier = (report?.pending ?? 0) - mine.pending;
  if (earlier > 0) stderr(`warning: consumers: ${earlier} earlier delivery(ies) still pending\n`);
  if (mine.failed.length || queued > 0 || earlier > 0) {
    const requiredPublish = mine.failed.some((f) => f.required && f.event_type === 'run.published');
    const dead = mine.failed.some((f) => f.status === 'dead');
    stderr(
      `hint: ${requiredPublish ? "the run stays 'published', not 'complete', until its required consumers acknowledge; " : ''}see \`tidemark consumers status\`; pending deliveries are retried by the next command, by \`tidemark serve\`, or now with \`tidemark consumers redeliver\`${dead ? ' (`--dead` re-queues dead-lettered ones)' : ''}\n`,
    );
  }
}
