/**
 * Throttling between tasks: a rate (`--rate 30/min`) and a run window (`--window 22:00-06:00`, or
 * `window:` on the pool). Outside its window a run starts no new task; the task in flight finishes.
 * Time comes from an injectable clock, so tests move time instead of sleeping.
 */
import { usageError } from '../errors.js';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms))),
};

export { parseWindow, type RunWindow } from '../core/run-window.js';
import type { RunWindow } from '../core/run-window.js';

function minuteOfDay(ms: number): number {
  const d = new Date(ms);
  return d.getHours() * 60 + d.getMinutes() + d.getSeconds() / 60 + d.getMilliseconds() / 60_000;
}

export function inWindow(w: RunWindow, ms: number): boolean {
  const m = minuteOfDay(ms);
  return w.start < w.end ? m >= w.start && m < w.end : m >= w.start || m < w.end;
}

/** Milliseconds until the window next opens (0 inside it). */
export function msUntilOpen(w: RunWindow, ms: number): number {
  if (inWindow(w, ms)) return 0;
  const m = minuteOfDay(ms);
  const minutes = (w.start - m + 1440) % 1440;
  return Math.max(1, Math.ceil(minutes * 60_000));
}

/** `--rate`: tasks per minute, written `N/min`, `N/h` or just `N` (per minute). */
export function parseRate(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(?:\/\s*(min|m|minute|h|hour))?$/.exec(text.trim());
  const n = m ? Number(m[1]) : NaN;
  if (!m || !(n > 0)) throw usageError(`--rate looks like 30/min or 120/h, got '${text}'`);
  return m[2] === 'h' || m[2] === 'hour' ? n / 60 : n;
}

export interface ThrottleHooks {
  /** Told once each time the run starts waiting, with why. */
  paused(reason: string): void;
  /** Called while waiting (about every second of clock time): throws to stop waiting (cancel). */
  check(): Promise<void>;
  /**
   * Given, the run does not wait outside its window: this is called instead, and throws to end the
   * run's attempt (a one-shot command on a single-writer engine releases the database meanwhile).
   */
  outsideWindow?(window: RunWindow, opensAt: number): never;
}

/** How long the throttle sleeps between checks for a cancel request while it waits. */
const CHECK_EVERY_MS = 1000;

export class Throttle {
  private nextStart = 0;
  /** The last pause reason told (a rate pause is told once, not before every task). */
  private announced = '';

  constructor(
    private readonly options: { ratePerMinute?: number; window?: RunWindow; clock: Clock },
  ) {}

  get active(): boolean {
    return Boolean(this.options.ratePerMinute || this.options.window);
  }

  /** Waits until the next task may start, then books its start (for the rate). */
  async admit(hooks: ThrottleHooks): Promise<void> {
    const { clock, window, ratePerMinute } = this.options;
    for (;;) {
      await hooks.check();
      const now = clock.now();
      let wait = 0;
      let reason = '';
      const outside = window && !inWindow(window, now);
      if (!outside && this.announced.startsWith('outside')) this.announced = ''; // back inside: tell the next pause again
      if (window && outside) {
        wait = msUntilOpen(window, now);
        hooks.outsideWindow?.(window, now + wait);
        reason = `outside window ${window.text}; resumes at ${new Date(now + wait).toTimeString().slice(0, 5)}`;
      } else if (ratePerMinute && now < this.nextStart) {
        wait = this.nextStart - now;
        reason = `throttled to ${formatRate(ratePerMinute)}`;
      }
      if (wait <= 0) {
        if (ratePerMinute) this.nextStart = Math.max(now, this.nextStart) + 60_000 / ratePerMinute;
        return;
      }
      if (reason !== this.announced) hooks.paused(reason);
      this.announced = reason;
      await clock.sleep(Math.min(wait, CHECK_EVERY_MS));
    }
  }
}

function formatRate(perMinute: number): string {
  return perMinute >= 1 ? `${+perMinute.toFixed(2)}/min` : `${+(perMinute * 60).toFixed(2)}/h`;
}
