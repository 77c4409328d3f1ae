/**
 * Test hook (like TIDEMARK_CRASH_AT): TIDEMARK_TEST_CLOCK_FILE names a file holding the time (an ISO
 * timestamp or epoch milliseconds), and a one-shot CLI command then reads run windows and rates from
 * it instead of the system clock. A test moves time for a command running in another process by
 * rewriting the file, so a command waiting hours for its run window is tested without waiting.
 */
import { readFileSync } from 'node:fs';
import { TidemarkError } from '../errors.js';
import type { Clock } from './throttle.js';

/** How often a sleep looks at the file again (real time). */
const POLL_MS = 20;
/**
 * A sleep also ends after this much real time, as a spurious wake-up (its callers look at the time
 * again and sleep on): while the file's time stands still, the process can still exit once nothing
 * else waits, and notices cancel requests about as often as on the system clock.
 */
const MAX_REAL_SLEEP_MS = 1000;

export function clockFromEnv(env: NodeJS.ProcessEnv = process.env): Clock | undefined {
  const file = env.TIDEMARK_TEST_CLOCK_FILE;
  return file ? fileClock(file) : undefined;
}

function fileClock(file: string): Clock {
  const now = () => {
    const text = readFileSync(file, 'utf8').trim();
    const ms = /^\d+$/.test(text) ? Number(text) : Date.parse(text);
    if (!Number.isFinite(ms)) {
      throw new TidemarkError('USAGE', `TIDEMARK_TEST_CLOCK_FILE ${file} holds no time: '${text}'`, {
        hint: 'write an ISO timestamp or epoch milliseconds into it, or unset TIDEMARK_TEST_CLOCK_FILE (a test hook)',
      });
    }
    return ms;
  };
  return {
    now,
    async sleep(ms) {
      const until = now() + Math.max(0, ms);
      const giveUp = Date.now() + MAX_REAL_SLEEP_MS;
      while (now() < until && Date.now() < giveUp) await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    },
  };
}
