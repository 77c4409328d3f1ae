/**
 * A clock that only moves when told to: for tests and simulations of rate limits and run windows
 * without real waiting.
 */
import type { Clock } from './throttle.js';

export class ManualClock implements Clock {
  private sleepers: { at: number; wake: () => void }[] = [];
  private readonly sleepListeners = new Set<() => void>();

  constructor(private time: number) {}

  now(): number {
    return this.time;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((wake) => {
      this.sleepers.push({ at: this.time + Math.max(0, ms), wake });
      for (const l of this.sleepListeners) l();
    });
  }

  /** How many sleeps are pending. */
  get sleeping(): number {
    return this.sleepers.length;
  }

  /** Resolves at the next call to sleep() (or at once if `ifAlreadySleeping` and one is pending). */
  nextSleep(ifAlreadySleeping = false): Promise<void> {
    if (ifAlreadySleeping && this.sleepers.length) return Promise.resolve();
    return new Promise((resolve) => {
      const l = () => {
        this.sleepListeners.delete(l);
        resolve();
      };
      this.sleepListeners.add(l);
    });
  }

  /** Moves time to `t` (never backwards) and wakes every sleep that is due. */
  set(t: number): void {
    this.time = Math.max(this.time, t);
    const due = this.sleepers.filter((s) => s.at <= this.time);
    this.sleepers = this.sleepers.filter((s) => s.at > this.time);
    for (const s of due) s.wake();
  }

  advance(ms: number): void {
    this.set(this.time + ms);
  }
}
