/**
 * Crash points for the crash-safety tests: with TIDEMARK_CRASH_AT=name:n the process kills itself
 * with SIGKILL the n-th time it passes `name` (no cleanup, no finally blocks), exactly like a power cut.
 */
const counts = new Map<string, number>();

export function crashPoint(name: string): void {
  const spec = process.env.TIDEMARK_CRASH_AT;
  if (!spec) return;
  const [point, nth] = spec.split(':');
  if (point !== name) return;
  const n = (counts.get(name) ?? 0) + 1;
  counts.set(name, n);
  if (n === Number(nth ?? 1)) process.kill(process.pid, 'SIGKILL');
}
