/** Timing helpers for the benchmark: one warm-up, then the median of N measured runs. */
import { performance } from 'node:perf_hooks';

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Times `fn` (milliseconds): `warmup` unmeasured calls, then `runs` measured ones. `prepare(i)` runs
 * before each call, outside the timing (e.g. a model change so the backfill has real work to publish).
 */
export async function measure(label, fn, { warmup = 1, runs = 3, prepare } = {}) {
  const samples = [];
  for (let i = 0; i < warmup + runs; i++) {
    if (prepare) await prepare(i);
    const t0 = performance.now();
    await fn(i);
    const ms = performance.now() - t0;
    if (i >= warmup) samples.push(ms);
    process.stderr.write(`  ${label}: ${i < warmup ? 'warm-up' : `run ${i - warmup + 1}`} ${ms.toFixed(0)} ms\n`);
  }
  return { median_ms: round(median(samples)), samples_ms: samples.map(round) };
}

export function round(ms) {
  return Math.round(ms * 10) / 10;
}

/**
 * Times two sides of one comparison in turns (a, b, a, b, …): on a shared machine whose speed drifts
 * over a minute, measuring every `a` before every `b` would put the drift into their ratio. Each side
 * gets `warmup` unmeasured calls and `runs` measured ones; `prepare(i)` runs before each `a` call.
 */
export async function measureInTurns(a, b, { warmup = 1, runs = 5, prepare } = {}) {
  const samples = { a: [], b: [] };
  for (let i = 0; i < warmup + runs; i++) {
    for (const [side, { label, fn }] of [['a', a], ['b', b]]) {
      if (side === 'a' && prepare) await prepare(i);
      const t0 = performance.now();
      await fn(i);
      const ms = performance.now() - t0;
      if (i >= warmup) samples[side].push(ms);
      process.stderr.write(`  ${label}: ${i < warmup ? 'warm-up' : `run ${i - warmup + 1}`} ${ms.toFixed(0)} ms\n`);
    }
  }
  const summary = (xs) => ({ median_ms: round(median(xs)), samples_ms: xs.map(round) });
  return { a: summary(samples.a), b: summary(samples.b) };
}
