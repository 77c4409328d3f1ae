/**
 * Migration 6: replaced rows can reach history before the publish transaction (execute/history-copy.ts).
 *
 * - history_copies: which live rows a run in flight has already copied to history — per partition,
 *   the version copied and the tag its history rows carry. A publish takes the copies whose version
 *   is still the one it replaces; gc removes the copies of runs that ended without using them.
 * - meta gets the `history_tag` counter. Tags count down from -1, so they never meet a publish
 *   sequence number, the tag of rows a publish moves to history itself.
 *
 * `IF NOT EXISTS` and the guarded insert: safe to apply again on a store a test downgraded by hand.
 */
export const name = 'history_copies';

export const tables = [
  `CREATE TABLE IF NOT EXISTS {s}.history_copies (
    run_id VARCHAR NOT NULL, dataset VARCHAR NOT NULL, partition VARCHAR NOT NULL, version INTEGER NOT NULL, tag BIGINT NOT NULL)`,
  `INSERT INTO {s}.meta (key, value) SELECT 'history_tag', '0' WHERE NOT EXISTS (SELECT 1 FROM {s}.meta WHERE key = 'history_tag')`,
];

export const keyed = [`CREATE UNIQUE INDEX IF NOT EXISTS history_copies_run_partition ON {s}.history_copies (run_id, dataset, partition)`];
