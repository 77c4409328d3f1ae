/**
 * The range flags of the commands that act on a range of one dataset's partitions (plan, backfill,
 * ready): --from/--to, or --last N counted back from --to or the newest published partition.
 */
import { addPartitions, parsePartitionKey, type Grain } from '../core/grain.js';
import { usageError } from '../errors.js';
import type { Workspace } from '../workspace.js';

const LAST_UNITS: Record<string, Grain> = { h: 'hour', d: 'day', m: 'month' };
const UNIT_OF: Record<Grain, string> = { hour: 'h', day: 'd', month: 'm' };

/**
 * Resolves --last / --from / --to into an inclusive range of partition keys. `--last N` counts N
 * partitions back from --to or the newest published one, in the dataset's own grain: `7d` on a
 * daily dataset, `24h` on an hourly one, `3m` on a monthly one. A unit of another grain is refused
 * rather than converted: "the last 7 days" of a monthly dataset has no single right answer.
 */
export async function rangeFlags(f: { from?: string; to?: string; last?: string }, grain: Grain, lastKey: () => Promise<string | null>): Promise<{ from: string; to: string }> {
  if (f.last === undefined) {
    if (!f.from || !f.to) throw usageError('give --from and --to (inclusive partition keys), or --last N', `e.g. --last 7${UNIT_OF[grain]}`);
    return { from: f.from, to: f.to };
  }
  if (f.from) throw usageError('--last and --from both set where the range starts: give one of them', `--last ${f.last} [--to KEY], or --from KEY --to KEY`);
  const n = lastCount(f.last, grain);
  const newest = f.to ?? (await lastKey());
  if (!newest) throw usageError('--last counts back from the newest published partition, and there is none yet', 'give --to KEY, or build the dataset first (tidemark run)');
  const to = parsePartitionKey(newest, grain);
  return { from: addPartitions(to, grain, -(n - 1)), to };
}

/** The newest published partition of `dataset`, or null before its first publish. */
export async function lastPartition(ws: Workspace, dataset: string): Promise<string | null> {
  const rows = await ws.engine.query<{ p: string | null }>(`SELECT max(partition) AS p FROM ${ws.engine.dialect.table(ws.engine.stateSchema, 'partitions')} WHERE dataset = $1`, [dataset]);
  return rows[0]?.p ?? null;
}

/** The N of `--last N<unit>`, checked: a positive count in the dataset's own grain. */
export function lastCount(span: string, grain: Grain): number {
  const m = /^(\d+)([hdm])$/.exec(span);
  if (!m) throw usageError(`--last looks like 7d, 24h or 3m (a count and the dataset's grain), got '${span}'`, `this dataset is partitioned by ${grain}: --last N${UNIT_OF[grain]}, or give --from and --to`);
  const n = Number(m[1]);
  if (n < 1) throw usageError(`--last ${span} names no partition`, `count at least one: --last 1${UNIT_OF[grain]}`);
  if (LAST_UNITS[m[2]] !== grain) {
    throw usageError(`--last ${span} counts ${LAST_UNITS[m[2]]}s, but the dataset is partitioned by ${grain}`, `count ${grain}s: --last ${n}${UNIT_OF[grain]}, or give --from and --to`);
  }
  return n;
}
