/**
 * `--wait` on a write whose partitions are held by a run in flight: instead of refusing (exit 3), plan
 * again until no run holds them, then go ahead with the fresh plan. Only run conflicts are waited
 * for; any other guard still refuses at once.
 */
import { guardRefusal } from '../errors.js';
import type { EventBus } from '../events.js';
import { blockingGuards, type Plan } from '../plan/types.js';
import { systemClock as clock } from './throttle.js';

const POLL_MS = 250;

export async function waitForConflictingRuns(replan: () => Promise<Plan>, first: Plan, options: { timeoutMs: number; events?: EventBus }): Promise<Plan> {
  const deadline = clock.now() + options.timeoutMs;
  let plan = first;
  let announced = '';
  for (;;) {
    const blocking = blockingGuards(plan);
    if (!blocking.length || blocking.some((g) => g.code !== 'RUN_CONFLICT')) return plan;
    if (clock.now() >= deadline) {
      throw guardRefusal(blocking, 'refused: still held after waiting', {});
    }
    const message = `waiting: ${blocking.map((g) => g.message).join('; ')}`;
    if (message !== announced) options.events?.emit({ type: 'log', message });
    announced = message;
    await clock.sleep(POLL_MS);
    plan = await replan();
  }
}
