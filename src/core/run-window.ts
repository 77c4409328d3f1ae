/**
 * A run window: a daily span of local time (`22:00-06:00`; an end before the start wraps past
 * midnight) inside which a run may start tasks. Parsed in one place for `--window`, a pool's
 * `window:` in tidemark.yaml (checked when the project loads) and the scheduler.
 */
import { usageError } from '../errors.js';

/** A daily window in local time; `end` before `start` wraps past midnight. */
export interface RunWindow {
  text: string;
  start: number; // minutes after midnight
  end: number;
}

export function parseWindow(text: string): RunWindow {
  const m = /^(\d{1,2}):(\d{2})-(\d{1,2}):(\d{2})$/.exec(text.trim());
  const bad = () => usageError(`a window looks like 22:00-06:00 (local time, HH:MM-HH:MM), got '${text}'`, 'hours 00-23, minutes 00-59; an end before the start wraps past midnight');
  if (!m) throw bad();
  const [h1, m1, h2, m2] = m.slice(1).map(Number);
  if (h1 > 23 || h2 > 23 || m1 > 59 || m2 > 59) throw bad();
  const start = h1 * 60 + m1;
  const end = h2 * 60 + m2;
  if (start === end) throw usageError(`window '${text}' is empty: its start equals its end`, 'for a run at any time, leave the window out');
  return { text: text.trim(), start, end };
}

