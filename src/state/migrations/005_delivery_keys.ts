/**
 * Migration 5: one delivery per (outbox event, consumer), enforced by the store on both engines.
 *
 * Before it, fan-out (consumers/enqueue.ts) kept deliveries unique with `INSERT … WHERE NOT EXISTS`
 * under an in-process mutex: two processes fanning out at once on PostgreSQL (read committed) could
 * both insert the same delivery, and the consumer was then sent the event twice.
 *
 * - deliveries: duplicates are removed, keeping the most advanced row of each (event, consumer):
 *   delivered, else dead, else pending; then the most attempts. The table is rebuilt rather than
 *   deleted from, because DuckDB's CREATE INDEX still sees rows deleted earlier in its transaction.
 * - a UNIQUE index on deliveries (event_id, consumer), the arbiter of fan-out's
 *   `ON CONFLICT (event_id, consumer) DO NOTHING`. Unlike the keys of 001 it is safe on DuckDB,
 *   whose eager constraint checks only bite when a key column is updated: a delivery's event and
 *   consumer never change (attempts update status, attempts and times only).
 * - meta gets the fan-out cursor row (value '0', what a missing row meant), so fan-out can always
 *   lock that row to serialise with other processes instead of racing to create it.
 *
 * Safe to apply again on a store a test downgraded by hand: the rebuild drops the old index with the
 * old table, and the cursor row is added only when missing.
 */
export const name = 'delivery_keys';

const COLUMNS = 'event_id, consumer, status, attempts, next_attempt_at, last_error, delivered_at';

export const tables = [
  `CREATE TABLE {s}._tm_deliveries_deduped (
    event_id BIGINT NOT NULL, consumer VARCHAR NOT NULL, status VARCHAR NOT NULL, attempts INTEGER NOT NULL,
    next_attempt_at VARCHAR, last_error VARCHAR, delivered_at VARCHAR)`,
  `INSERT INTO {s}._tm_deliveries_deduped (${COLUMNS})
   SELECT ${COLUMNS} FROM (
     SELECT ${COLUMNS}, row_number() OVER (
       PARTITION BY event_id, consumer
       ORDER BY CASE status WHEN 'delivered' THEN 0 WHEN 'dead' THEN 1 ELSE 2 END, attempts DESC, delivered_at DESC NULLS LAST, next_attempt_at DESC NULLS LAST
     ) AS keep_rank
     FROM {s}.deliveries
   ) ranked WHERE keep_rank = 1`,
  `DROP TABLE {s}.deliveries`,
  `ALTER TABLE {s}._tm_deliveries_deduped RENAME TO deliveries`,
  `CREATE UNIQUE INDEX deliveries_event_consumer ON {s}.deliveries (event_id, consumer)`,
  `INSERT INTO {s}.meta (key, value) SELECT 'consumers_outbox_cursor', '0' WHERE NOT EXISTS (SELECT 1 FROM {s}.meta WHERE key = 'consumers_outbox_cursor')`,
];

export const keyed: string[] = [];
