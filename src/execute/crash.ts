/**
 * Crash points for the crash-safety tests: with TIDEMARK_CRASH_AT=name:n the process kills itself
 * with SIGKILL the n-th time it passes `name` (no cleanup, no finally blocks), exactly like a power cut.
 *
 * Pause points, for tests that signal a process at an exact point: with TIDEMARK_PAUSE_AT=name:n and
 * TIDEMARK_PAUSE_FILE=PATH, the n-th pass of `name` creates PATH and the process stays there, its
 * event loop free (signal handlers run), until the test removes PATH. Crash and pause points count
 * their passes apart.
 */
import { existsSync, writeFileSync } from 'node:fs';

const counts = new Map<string, number>();

export function crashPoint(name: string): void {
  if (passes('TIDEMARK_CRASH_AT', name)) process.kill(process.pid, 'SIGKILL');
}

/** Stays at `name` while TIDEMARK_PAUSE_FILE exists, when TIDEMARK_PAUSE_AT names this pass of it. */
export async function pausePoint(name: string): Promise<void> {
  const file = process.env.TIDEMARK_PAUSE_FILE;
  if (!file || !passes('TIDEMARK_PAUSE_AT', name)) return;
  writeFileSync(file, `${process.pid} ${name}\n`);
  while (existsSync(file)) await new Promise((resolve) => setTimeout(resolve, 20));
}

/** Whether the point `name` of the test hook in `variable` (name:n) is passed for the n-th time now. */
function passes(variable: 'TIDEMARK_CRASH_AT' | 'TIDEMARK_PAUSE_AT', name: string): boolean {
  const spec = process.env[variable];
  if (!spec) return false;
  const [point, nth] = spec.split(':');
  if (point !== name) return false;
  const key = `${variable}\0${name}`;
  const n = (counts.get(key) ?? 0) + 1;
  counts.set(key, n);
  return n === Number(nth ?? 1);
}
