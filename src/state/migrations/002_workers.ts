/**
 * Migration 2: distributed workers (issue 8). Portable SQL as in 001; used only by multi-writer
 * engines (PostgreSQL), but created everywhere so every store has the same shape.
 *
 * - pool_slots: one row per slot of a resource pool, shared by every worker process. A worker holds a
 *   slot while it computes a task (worker, run, task, lease); a slot whose lease expired is free again.
 *   Claiming locks the row (`FOR UPDATE SKIP LOCKED`), so two workers never take the same slot.
 * - run_leases: heartbeats of runs computed in one process (`tidemark backfill` without --detach) on a
 *   multi-writer engine, so a planner on another machine can tell a live run from a dead one.
 * - run_admission: a single row that run creation locks, so that two processes planning overlapping
 *   partitions at the same moment cannot both create their runs.
 */
export const name = 'workers';

export const tables = [
  `CREATE TABLE {s}.pool_slots (
    pool VARCHAR NOT NULL, slot INTEGER NOT NULL, worker VARCHAR, run_id VARCHAR, dataset VARCHAR,
    partition VARCHAR, lease_until VARCHAR)`,
  `CREATE TABLE {s}.run_leases (run_id VARCHAR NOT NULL, holder VARCHAR NOT NULL, lease_until VARCHAR NOT NULL)`,
  `CREATE TABLE {s}.run_admission (id INTEGER NOT NULL)`,
  `INSERT INTO {s}.run_admission VALUES (1)`,
];

export const keyed = [
  `CREATE UNIQUE INDEX ON {s}.pool_slots (pool, slot)`,
  `CREATE UNIQUE INDEX ON {s}.run_leases (run_id)`,
  `CREATE INDEX ON {s}.tasks (status, run_id)`,
];
