/**
 * The change feed: every publish of a dataset's partitions after a publish sequence number. An
 * external incremental consumer follows it with a cursor (the sequence), not a timestamp, so a
 * restatement of old history is seen as a change like any other. The consumer pattern is in
 * docs/change-feed.md: for each change, replace the partition's rows in the copy; never append.
 */
import { getDataset } from '../config/project.js';
import { windowOf } from '../core/grain.js';
import { TidemarkError } from '../errors.js';
import { currentPublishSeq } from '../state/meta.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';

export interface Change {
  dataset: string;
  partition: string;
  /** The half-open window of the partition: a consumer deletes `column >= start AND column < end`. */
  window: { start: string; end: string };
  version: number;
  previous_version: number | null;
  /** new: first version; restate: recomputed or re-ingested; restore: an older version brought back. */
  kind: 'new' | 'restate' | 'restore';
  publish_seq: number;
  run_id: string;
  rows: number;
  checksum: string;
  published_at: string;
  /** False when a later change in this feed (or after it) replaced this version. */
  current: boolean;
}

export interface ChangeFeed {
  dataset: string;
  partition_column: string;
  since: number;
  /** The publish sequence this answer is complete up to: store it as the cursor for the next call. */
  head_seq: number;
  /** True when --limit cut the feed short; call again with since = head_seq for the rest. */
  truncated: boolean;
  changes: Change[];
}

export interface ChangesRequest {
  since: number;
  /** At most this many changes, rounded up to whole publishes so a cursor never splits one. */
  limit?: number;
}

interface RawChange {
  partition: string;
  version: number | bigint;
  kind: Change['kind'];
  publish_seq: number | bigint;
  run_id: string;
  rows: number | bigint;
  checksum: string;
  published_at: string;
  replaced_at: string | null;
}

export async function listChanges(ws: Workspace, dataset: string, request: ChangesRequest): Promise<ChangeFeed> {
  const ds = getDataset(ws.project, dataset);
  const { engine } = ws;
  const since = request.since;
  if (!Number.isSafeInteger(since) || since < 0) {
    throw new TidemarkError('USAGE', `--since must be a publish sequence number (an integer ≥ 0), got '${String(since)}'`, {
      hint: 'start from 0 to read every publish, then pass the head_seq of the previous answer',
    });
  }
  if (request.limit !== undefined && (!Number.isSafeInteger(request.limit) || request.limit < 1)) {
    throw new TidemarkError('USAGE', `--limit must be a positive integer, got '${String(request.limit)}'`);
  }
  // The head is read first and bounds the query: publishers take sequence numbers under a lock and
  // commit in that order, so every publish up to the head is visible and none after it is half-read.
  const head = await currentPublishSeq(engine, engine);
  if (since > head) {
    throw new TidemarkError('BAD_INPUT', `--since ${since} is ahead of this project's publish sequence (${head})`, {
      hint: 'the cursor belongs to another project or to state that was recreated: re-copy the dataset and start from 0',
    });
  }
  const rows = await engine.query<RawChange>(
    `SELECT partition, version, kind, publish_seq, run_id, rows, checksum, published_at, replaced_at
     FROM ${stateTable(engine, 'versions')}
     WHERE dataset = $1 AND publish_seq > $2 AND publish_seq <= $3
     ORDER BY publish_seq, partition`,
    [ds.name, since, head],
  );
  const all = rows.map((r): Change => {
    const version = Number(r.version);
    return {
      dataset: ds.name,
      partition: r.partition,
      window: windowOf(r.partition, ds.grain),
      version,
      // Versions of a partition are numbered 1, 2, 3…: the one before is always version - 1.
      previous_version: version > 1 ? version - 1 : null,
      kind: r.kind,
      publish_seq: Number(r.publish_seq),
      run_id: r.run_id,
      rows: Number(r.rows),
      checksum: r.checksum,
      published_at: r.published_at,
      current: r.replaced_at === null,
    };
  });
  const { changes, complete } = cutAtWholePublish(all, request.limit);
  return {
    dataset: ds.name,
    partition_column: ds.partitionColumn,
    since,
    head_seq: complete ? head : changes[changes.length - 1].publish_seq,
    truncated: !complete,
    changes,
  };
}

/** Takes at most `limit` changes, extended to the end of the last publish so no publish is split. */
function cutAtWholePublish(changes: Change[], limit: number | undefined): { changes: Change[]; complete: boolean } {
  if (limit === undefined || changes.length <= limit) return { changes, complete: true };
  let end = limit;
  while (end < changes.length && changes[end].publish_seq === changes[limit - 1].publish_seq) end++;
  return { changes: changes.slice(0, end), complete: end === changes.length };
}
