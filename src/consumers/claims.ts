/**
 * One delivering pass per consumer at a time, within a process. In `tidemark serve` three dispatches
 * can run side by side on one engine: the server's timer, a hosted command's dispatch after it
 * published, and the `run.started` dispatch before a run computes. Without a claim two of them could
 * read the same pending delivery and both send it, or send a consumer's events out of order.
 * (Across processes delivery stays at least once, as before.)
 */
import { setTimeout as delay } from 'node:timers/promises';

/** Claims per scope (the workspace's engine: hosted commands share the server's). */
const held = new WeakMap<object, Map<string, Promise<void>>>();

/**
 * Runs `fn` once `consumer` is free, waiting at most `maxWaitMs` (or until `signal` aborts) for
 * another pass to finish with it. Returns false, without running `fn`, when it stayed busy: the
 * pass holding it delivers its events.
 */
export async function withConsumerClaim(scope: object, consumer: string, maxWaitMs: number, fn: () => Promise<void>, signal?: AbortSignal): Promise<boolean> {
  let claims = held.get(scope);
  if (!claims) held.set(scope, (claims = new Map()));
  const giveUpAt = Date.now() + maxWaitMs;
  for (let busy = claims.get(consumer); busy; busy = claims.get(consumer)) {
    const left = giveUpAt - Date.now();
    if (left <= 0 || signal?.aborted) return false;
    const stopWaiting = new AbortController();
    const abort = () => stopWaiting.abort();
    signal?.addEventListener('abort', abort, { once: true });
    await Promise.race([busy, delay(left, undefined, { signal: stopWaiting.signal }).catch(() => undefined)]);
    stopWaiting.abort(); // clears the timer, so a finished wait never keeps the process alive
    signal?.removeEventListener('abort', abort);
  }
  let release!: () => void;
  claims.set(consumer, new Promise<void>((resolve) => (release = resolve)));
  try {
    await fn();
    return true;
  } finally {
    claims.delete(consumer);
    release();
  }
}
