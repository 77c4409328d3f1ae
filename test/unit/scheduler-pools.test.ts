// Slot accounting, priority and throttling of the scheduler (issue 7), without an engine.
import { describe, expect, it } from 'vitest';
import { SlotScheduler, type Slot } from '../../src/scheduler/pools.js';
import { ManualClock } from '../../src/scheduler/manual-clock.js';
import { inWindow, msUntilOpen, parseRate, parseWindow, Throttle } from '../../src/scheduler/throttle.js';

const POOLS = { production: { slots: 1, priority: 10 }, backfill: { slots: 1, priority: 1 } };
const tick = () => new Promise((r) => setImmediate(r));

function recorder(s: SlotScheduler) {
  const order: string[] = [];
  const take = (pool: string, label: string) => s.acquire(pool).then((slot) => (order.push(label), slot));
  return { order, take };
}

describe('slot scheduler', () => {
  it('gives the next free slot of a shared 1-slot capacity to a waiting higher-priority task', async () => {
    const s = new SlotScheduler(POOLS, 1);
    const { order, take } = recorder(s);
    const first = await take('backfill', 'b1');
    const b2 = take('backfill', 'b2');
    const b3 = take('backfill', 'b3');
    const p1 = take('production', 'p1'); // submitted while the backfill holds the slot and has more queued
    const p2 = take('production', 'p2');
    await tick();
    expect(order).toEqual(['b1']); // nothing is preempted
    first.release();
    (await p1).release();
    (await p2).release();
    (await b2).release();
    (await b3).release();
    expect(order).toEqual(['b1', 'p1', 'p2', 'b2', 'b3']);
  });

  it('keeps a slot for an active higher-priority run between its tasks', async () => {
    const s = new SlotScheduler(POOLS, 1);
    const member = s.join('production', 1);
    let got: Slot | null = null;
    const pending = s.acquire('backfill').then((slot) => (got = slot));
    await tick();
    expect(got).toBeNull(); // production is active (between tasks), so the backfill waits
    member.leave();
    await pending;
    expect(got).not.toBeNull();
  });

  it('lets a lower-priority pool use capacity that higher-priority runs cannot use', async () => {
    const s = new SlotScheduler({ production: { slots: 1, priority: 10 }, backfill: { slots: 2, priority: 1 } }, 3);
    const member = s.join('production', 4); // wants 4, but its pool has 1 slot
    const p = await s.acquire('production');
    const b1 = await s.acquire('backfill');
    const b2 = await s.acquire('backfill'); // 3 = capacity; production is at its own limit
    expect(s.usage().map((u) => [u.pool, u.running])).toEqual([['production', 1], ['backfill', 2]]);
    let third = false;
    void s.acquire('backfill').then(() => (third = true));
    await tick();
    expect(third).toBe(false); // the pool's own slots bound it
    for (const x of [p, b1, b2]) x.release();
    member.leave();
  });

  it('refuses an unknown pool with the known ones in the hint', () => {
    const s = new SlotScheduler(POOLS, 2);
    expect(() => s.join('nightly', 1)).toThrow(/unknown pool 'nightly'/);
  });
});

describe('throttle', () => {
  const at = (h: number, m = 0) => new Date(2026, 0, 10, h, m).getTime();

  it('parses windows, including ones that wrap past midnight', () => {
    const w = parseWindow('22:00-06:00');
    expect(inWindow(w, at(23))).toBe(true);
    expect(inWindow(w, at(5, 59))).toBe(true);
    expect(inWindow(w, at(6))).toBe(false);
    expect(inWindow(w, at(12))).toBe(false);
    expect(msUntilOpen(w, at(21))).toBe(3_600_000);
    expect(inWindow(parseWindow('09:30-17:00'), at(9, 30))).toBe(true);
    expect(() => parseWindow('25:00-06:00')).toThrow(/22:00-06:00/);
    expect(() => parseWindow('10:00-10:00')).toThrow(/empty/);
  });

  it('parses rates', () => {
    expect(parseRate('30/min')).toBe(30);
    expect(parseRate('12')).toBe(12);
    expect(parseRate('120/h')).toBe(2);
    expect(() => parseRate('fast')).toThrow(/--rate/);
  });

  it('waits outside the window and lets a task through inside it, with a manual clock', async () => {
    const clock = new ManualClock(at(12));
    const throttle = new Throttle({ window: parseWindow('22:00-06:00'), clock });
    const reasons: string[] = [];
    let admitted = false;
    const done = throttle.admit({ paused: (r) => reasons.push(r), check: async () => undefined }).then(() => (admitted = true));
    await clock.nextSleep(true);
    clock.set(at(21, 59));
    await clock.nextSleep(true);
    expect(admitted).toBe(false);
    clock.set(at(22, 0));
    await done;
    expect(admitted).toBe(true);
    expect(reasons).toEqual(['outside window 22:00-06:00; resumes at 22:00']);
  });

  it('spaces task starts by the rate', async () => {
    const clock = new ManualClock(at(12));
    const throttle = new Throttle({ ratePerMinute: 2, clock });
    const hooks = { paused: () => undefined, check: async () => undefined };
    await throttle.admit(hooks); // the first task starts at once
    let second = false;
    const p = throttle.admit(hooks).then(() => (second = true));
    await clock.nextSleep(true);
    clock.advance(29_000);
    await clock.nextSleep(true);
    expect(second).toBe(false);
    clock.advance(1_000);
    await p;
    expect(second).toBe(true);
  });

  it('stops waiting when the check throws (a cancel)', async () => {
    const clock = new ManualClock(at(12));
    const throttle = new Throttle({ window: parseWindow('22:00-06:00'), clock });
    let cancelled = false;
    const p = throttle.admit({ paused: () => undefined, check: async () => { if (cancelled) throw new Error('cancelled'); } });
    await clock.nextSleep(true);
    cancelled = true;
    clock.advance(1000);
    await expect(p).rejects.toThrow('cancelled');
  });
});
