/**
 * `tidemark serve` retries deliveries on its own: a delivery that failed while the server runs is sent
 * again once its backoff (`next_attempt_at`) is due, without waiting for some later command.
 *
 * - A pass delivers what is due now (one attempt each, no waiting: dispatch `once`), then the next
 *   pass is scheduled `intervalMs` after this one ended, so two passes never overlap.
 * - Passes share the process with the commands the server runs: per-consumer claims (claims.ts)
 *   keep a command's own dispatch and a pass from sending the same delivery twice.
 * - `stop()` schedules nothing more, stops the pass in flight from starting attempts, and resolves
 *   once it ended (an attempt in flight ends by its consumer's timeout).
 * - A project without consumers runs no pass at all.
 */
import { dispatch, type DispatchReport } from '../consumers/dispatcher.js';
import { coerceError } from '../errors.js';
import type { Workspace } from '../workspace.js';

export interface DispatchLoop {
  stop(): Promise<void>;
}

/** Every second by default; TIDEMARK_SERVE_DISPATCH_MS changes it. */
export function dispatchIntervalMs(env: NodeJS.ProcessEnv = process.env): number {
  const fromEnv = Number(env.TIDEMARK_SERVE_DISPATCH_MS);
  return env.TIDEMARK_SERVE_DISPATCH_MS && Number.isFinite(fromEnv) && fromEnv > 0 ? fromEnv : 1000;
}

export function startDispatchLoop(ws: Workspace, options: { intervalMs?: number; log?: (line: string) => void } = {}): DispatchLoop {
  if (!Object.keys(ws.project.consumers).length) return { stop: async () => undefined };
  const intervalMs = options.intervalMs ?? dispatchIntervalMs();
  const log = options.log ?? (() => undefined);
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  let lastError = '';

  const pass = async () => {
    try {
      describe(await dispatch(ws, { once: true, signal: stopping.signal }), log);
      lastError = '';
    } catch (error) {
      // Say it once, not every second while, say, the database is unreachable.
      const message = ws.redact(coerceError(error).message);
      if (message !== lastError) log(`consumers: dispatch failed: ${message}; retrying`);
      lastError = message;
    }
  };
  const schedule = () => {
    if (stopping.signal.aborted) return;
    timer = setTimeout(() => {
      inFlight = pass().then(schedule);
    }, intervalMs);
    timer.unref(); // the server's HTTP listener keeps the process alive, not this timer
  };
  schedule();

  return {
    async stop() {
      stopping.abort();
      clearTimeout(timer);
      await inFlight;
    },
  };
}

/** One line per delivered or failed attempt, on the server's terminal. */
function describe(report: DispatchReport, log: (line: string) => void): void {
  for (const a of report.attempts) {
    const what = `consumer ${a.consumer}: ${a.event_type} of run ${a.run_id}`;
    if (a.status === 'delivered') log(`${what} delivered (attempt ${a.attempt})`);
    else log(`${what} failed (attempt ${a.attempt}): ${a.error}${a.status === 'dead' ? ' — dead-lettered; `tidemark consumers redeliver --dead` retries it' : ''}`);
  }
  if (report.completed_runs.length) log(`runs complete (consumers acknowledged): ${report.completed_runs.join(', ')}`);
}
