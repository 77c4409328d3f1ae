/**
 * Migration 1: the state store. Portable SQL (both engines): timestamps are ISO-8601 UTC text
 * (sortable, zone-free) and JSON is stored as text. `{s}` is replaced by the quoted state schema.
 *
 * DuckDB gets no PRIMARY KEY/UNIQUE on tables that are updated in place, because its constraint
 * checks are eager within a transaction (an UPDATE is a delete + insert); uniqueness is kept by the
 * single write path instead. Postgres adds keys and indexes in its own list (`keyed`).
 */
export const name = 'init';

export const tables = [
  `CREATE TABLE {s}.meta (key VARCHAR NOT NULL, value VARCHAR NOT NULL)`,
  `CREATE TABLE {s}.partitions (
    dataset VARCHAR NOT NULL, partition VARCHAR NOT NULL, version INTEGER NOT NULL,
    rows BIGINT NOT NULL, checksum VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
    publish_seq BIGINT NOT NULL, published_at VARCHAR NOT NULL, inputs VARCHAR NOT NULL)`,
  `CREATE TABLE {s}.versions (
    dataset VARCHAR NOT NULL, partition VARCHAR NOT NULL, version INTEGER NOT NULL,
    rows BIGINT NOT NULL, checksum VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
    publish_seq BIGINT NOT NULL, published_at VARCHAR NOT NULL, inputs VARCHAR NOT NULL,
    kind VARCHAR NOT NULL, actor VARCHAR NOT NULL, reason VARCHAR NOT NULL,
    retained BOOLEAN NOT NULL, replaced_at VARCHAR)`,
  `CREATE TABLE {s}.runs (
    run_id VARCHAR NOT NULL, kind VARCHAR NOT NULL, run_key VARCHAR NOT NULL, status VARCHAR NOT NULL,
    actor VARCHAR NOT NULL, reason VARCHAR NOT NULL, command VARCHAR NOT NULL, pool VARCHAR NOT NULL,
    request VARCHAR NOT NULL, plan VARCHAR NOT NULL, error VARCHAR, pid INTEGER, host VARCHAR,
    created_at VARCHAR NOT NULL, updated_at VARCHAR NOT NULL, published_at VARCHAR, publish_seq BIGINT)`,
  `CREATE TABLE {s}.tasks (
    run_id VARCHAR NOT NULL, dataset VARCHAR NOT NULL, partition VARCHAR NOT NULL, ord INTEGER NOT NULL,
    status VARCHAR NOT NULL, attempts INTEGER NOT NULL, rows BIGINT, checksum VARCHAR, sql_hash VARCHAR,
    inputs VARCHAR, error VARCHAR, started_at VARCHAR, finished_at VARCHAR, worker VARCHAR, lease_until VARCHAR)`,
  `CREATE TABLE {s}.locks (
    lock_id VARCHAR NOT NULL, dataset VARCHAR NOT NULL, from_key VARCHAR NOT NULL, to_key VARCHAR NOT NULL,
    reason VARCHAR NOT NULL, actor VARCHAR NOT NULL, created_at VARCHAR NOT NULL)`,
  `CREATE TABLE {s}.ingested_files (
    dataset VARCHAR NOT NULL, file VARCHAR NOT NULL, sha256 VARCHAR NOT NULL, bytes BIGINT NOT NULL,
    rows BIGINT NOT NULL, partitions VARCHAR NOT NULL, schema_version INTEGER, run_id VARCHAR NOT NULL, loaded_at VARCHAR NOT NULL)`,
  `CREATE TABLE {s}.audit (
    seq BIGINT NOT NULL, "at" VARCHAR NOT NULL, actor VARCHAR NOT NULL, action VARCHAR NOT NULL,
    reason VARCHAR NOT NULL, command VARCHAR NOT NULL, run_id VARCHAR, dataset VARCHAR,
    partitions VARCHAR NOT NULL, details VARCHAR NOT NULL, tidemark_version VARCHAR NOT NULL,
    config_hash VARCHAR NOT NULL, prev_hash VARCHAR NOT NULL, hash VARCHAR NOT NULL)`,
  `CREATE TABLE {s}.outbox (
    event_id BIGINT NOT NULL, event_type VARCHAR NOT NULL, run_id VARCHAR NOT NULL,
    payload VARCHAR NOT NULL, created_at VARCHAR NOT NULL)`,
  `CREATE TABLE {s}.deliveries (
    event_id BIGINT NOT NULL, consumer VARCHAR NOT NULL, status VARCHAR NOT NULL, attempts INTEGER NOT NULL,
    next_attempt_at VARCHAR, last_error VARCHAR, delivered_at VARCHAR)`,
  `CREATE TABLE {s}.checkpoints (
    dataset VARCHAR NOT NULL, cursor_column VARCHAR NOT NULL, value VARCHAR, publish_seq BIGINT NOT NULL, updated_at VARCHAR NOT NULL)`,
  `INSERT INTO {s}.meta VALUES ('publish_seq', '0'), ('audit_head', '')`,
];

/** Keys and indexes for engines whose constraints are checked at commit (Postgres). */
export const keyed = [
  `CREATE UNIQUE INDEX ON {s}.meta (key)`,
  `CREATE UNIQUE INDEX ON {s}.partitions (dataset, partition)`,
  `CREATE UNIQUE INDEX ON {s}.versions (dataset, partition, version)`,
  `CREATE UNIQUE INDEX ON {s}.runs (run_id)`,
  `CREATE UNIQUE INDEX ON {s}.tasks (run_id, dataset, partition)`,
  `CREATE UNIQUE INDEX ON {s}.ingested_files (dataset, file)`,
  `CREATE INDEX ON {s}.audit (seq)`,
  `CREATE UNIQUE INDEX ON {s}.outbox (event_id)`,
];
