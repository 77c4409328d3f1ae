/**
 * Readiness of a range of partitions: a job exporting the days a backfill fixed asks once,
 * `tidemark ready daily_revenue --from 2026-03-01 --to 2026-03-07 --wait --timeout 600 && ./export.sh`.
 * The range is ready when every partition of it is ready by the single-partition rule (ready.ts),
 * answered from one read of the range, of the runs holding any of it, and of its staleness.
 */
import type { PartitionKey } from '../core/grain.js';
import { resolveRange } from '../plan/build.js';
import type { Workspace } from '../workspace.js';
import { readinessOfKeys, type Readiness } from './ready.js';
import { describeStaleFix, describeStaleness } from './ready-staleness.js';

export interface RangeReadiness {
  dataset: string;
  /** The first and last partition of the range (inclusive), as keys of the dataset's grain. */
  from: PartitionKey;
  to: PartitionKey;
  /** True when every partition of the range is ready. */
  ready: boolean;
  /** Why not, when not ready: how many are not, the first few with their reasons, and what fixes them. */
  reason: string | null;
  /** Each partition of the range, in order, as `readiness` answers for one. */
  partitions: Readiness[];
}

/** How many not-ready partitions the reason names; the rest are counted (`--json` lists them all). */
const NAMED = 3;

/**
 * Readiness of partitions `from`..`to` (inclusive) of `dataset`. The range is parsed and checked as
 * `backfill` and `plan` check theirs: a malformed date, or `from` after `to`, throws BAD_DATE.
 */
export async function rangeReadiness(ws: Workspace, dataset: string, from: string, to: string): Promise<RangeReadiness> {
  const keys = resolveRange(ws.project, dataset, from, to);
  const partitions = await readinessOfKeys(ws, dataset, keys);
  const range = { dataset, from: keys[0], to: keys[keys.length - 1] };
  return { ...range, ready: partitions.every((p) => p.ready), reason: describeRangeNotReady(range, partitions), partitions };
}

/**
 * `3 of 7 partitions of daily_revenue 2026-03-01..2026-03-07 are not ready: 2026-03-05 is stale:
 * orders 2026-03-05 changed v1 → v2; 2026-03-06 …; run `tidemark run` to rebuild` (null when all are
 * ready). Each partition is named by its key alone, and each fix is said once, after them.
 */
function describeRangeNotReady(range: { dataset: string; from: PartitionKey; to: PartitionKey }, partitions: Readiness[]): string | null {
  const notReady = partitions.filter((p) => !p.ready);
  if (!notReady.length) return null;
  const named = notReady.slice(0, NAMED);
  const clauses = named.map((p) => `${p.partition} ${whatIsWrong(p)}`);
  if (notReady.length > NAMED) clauses.push(`and ${notReady.length - NAMED} more`);
  const fixes = new Set(named.flatMap((p) => (p.stale_because ? [describeStaleFix(p.dataset, p.partition!, p.stale_because)] : [])));
  const of = `of ${partitions.length} partition${partitions.length === 1 ? '' : 's'} of ${range.dataset} ${range.from}..${range.to}`;
  return `${notReady.length} ${of} ${notReady.length === 1 ? 'is' : 'are'} not ready: ${[...clauses, ...fixes].join('; ')}`;
}

/** A not-ready partition's reason after its key, in the words of its own `reason`. */
function whatIsWrong(p: Readiness): string {
  if (p.version === null) return 'is not published';
  if (p.held_by.length) return `is being rebuilt by run ${p.held_by.join(', ')}`;
  return describeStaleness(p.dataset, p.partition!, p.stale_because!);
}
