/**
 * Migration 7: indexes for the state-store lookups every command makes by run, status or sequence,
 * on engines whose state tables are indexed (PostgreSQL). Without them each lookup reads the whole
 * table, and runs, outbox, versions and audit gain rows with every command a project ever ran: on a
 * store of 13k runs / 27k outbox events, `WHERE run_id = $1` on the outbox took ~6 ms as a
 * sequential scan and ~0.05 ms with the index, and it is made per run by `status`, `consumers status`
 * and every dispatch (README "State store size over time").
 *
 * - runs (status): in-flight runs (every plan and `status`), published runs awaiting consumers,
 *   failed ingests superseded by a new one.
 * - runs (run_key, created_at): the resumable run of a request (every write command).
 * - runs (created_at, run_id): the newest runs (`runs`, `status`), read backwards.
 * - outbox (run_id, event_type): a run's events (awaited consumers, completion, `consumers verify`,
 *   why a run last failed, `consumers redeliver --run`).
 * - deliveries (status, consumer): pending deliveries (every dispatch).
 * - versions (run_id): what a run published (`diff`, `restore --run`); (dataset, publish_seq): the
 *   change feed (`changes --since`).
 * - audit (run_id): a run's records (`audit log --run`, lineage); ("at"): `audit log --since`.
 *
 * DuckDB gets none (see 001: its state tables are updated in place and scanned quickly); a store it
 * keeps is unchanged. `IF NOT EXISTS`: safe to apply again on a store a test downgraded by hand.
 */
export const name = 'read_indexes';

export const tables: string[] = [];

export const keyed = [
  `CREATE INDEX IF NOT EXISTS runs_status ON {s}.runs (status)`,
  `CREATE INDEX IF NOT EXISTS runs_run_key ON {s}.runs (run_key, created_at)`,
  `CREATE INDEX IF NOT EXISTS runs_created ON {s}.runs (created_at, run_id)`,
  `CREATE INDEX IF NOT EXISTS outbox_run ON {s}.outbox (run_id, event_type)`,
  `CREATE INDEX IF NOT EXISTS deliveries_status ON {s}.deliveries (status, consumer)`,
  `CREATE INDEX IF NOT EXISTS versions_run ON {s}.versions (run_id)`,
  `CREATE INDEX IF NOT EXISTS versions_feed ON {s}.versions (dataset, publish_seq)`,
  `CREATE INDEX IF NOT EXISTS audit_run ON {s}.audit (run_id)`,
  `CREATE INDEX IF NOT EXISTS audit_at ON {s}.audit ("at")`,
];
