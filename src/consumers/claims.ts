/**
 * One delivering pass per consumer at a time, so a pending delivery is sent by one pass only, and a
 * consumer's events go out in order. Two levels:
 *
 * - In a process (`withConsumerClaim`): in `tidemark serve` three dispatches can run side by side on
 *   one engine: the server's timer, a hosted command's dispatch after it published, and the
 *   `run.started` dispatch before a run computes. A pass waits for another pass of the same process
 *   to finish with the consumer.
 * - Across processes (`openConsumerClaims`), on engines several processes write (PostgreSQL): two
 *   `serve`s, or a command and a `serve`, would otherwise read the same pending delivery and both
 *   send it. A pass holds a session-level advisory lock named after the consumer
 *   (`Engine.tryLockSession`), taken without waiting: when another process holds it, that process is
 *   delivering the consumer's events and this pass comes back later. Why an advisory lock rather than
 *   a claim column with a lease: it dies with the session, so a process killed mid-pass frees its
 *   consumers at once, with no lease to expire and no heartbeat to keep while a webhook is slow.
 *   The locks of one dispatch live on one connection of their own, which also runs the pass's
 *   reads and writes of deliveries: a pass whose session was lost fails at its next statement
 *   instead of going on unlocked, and however many consumers there are, a dispatch holds one
 *   connection for its locks. DuckDB admits one writing process per file: the first level is enough.
 *
 * Delivery stays at least once: a process that dies after the consumer acknowledged but before the
 * delivery was recorded leaves it pending, and the next pass sends it again.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { Connection, Db, Engine } from '../engines/engine.js';

/** Claims per scope (the workspace's engine: hosted commands share the server's). */
const held = new WeakMap<object, Map<string, Promise<void>>>();

/**
 * Runs `fn` once `consumer` is free in this process, waiting at most `maxWaitMs` (or until `signal`
 * aborts) for another pass to finish with it. Returns false, without running `fn`, when it stayed
 * busy: the pass holding it delivers its events.
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

/** The cross-process claims of one dispatch. */
export interface ConsumerClaims {
  /**
   * Runs `fn` holding `consumer` against other processes, with the Db its pass reads and writes
   * deliveries through; returns false, without running `fn`, while another process holds it.
   */
  tryWith(consumer: string, fn: (db: Db) => Promise<void>): Promise<boolean>;
  /** Ends the dispatch's session (and any lock left on it); call once every pass ended. */
  close(): Promise<void>;
}

export function openConsumerClaims(engine: Engine): ConsumerClaims {
  if (!engine.tryLockSession || !engine.unlockSession) return { tryWith: async (_consumer, fn) => (await fn(engine), true), close: async () => undefined };
  let session: Promise<Connection> | undefined;
  return {
    async tryWith(consumer, fn) {
      // Opened on first use: a dispatch with nothing pending never takes a connection.
      const conn = await (session ??= engine.connect());
      const key = `consumer:${consumer}`;
      if (!(await engine.tryLockSession!(conn, key))) return false;
      try {
        await fn(conn);
      } finally {
        await engine.unlockSession!(conn, key);
      }
      return true;
    },
    async close() {
      const conn = await session?.catch(() => undefined); // a failed connect was reported by tryWith
      await conn?.close();
    },
  };
}
