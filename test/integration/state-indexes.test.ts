/**
 * Migration 7 (state/migrations/007_read_indexes.ts): on PostgreSQL the lookups every command makes
 * by run, status or sequence are served by an index, not by reading the whole table, which gains rows
 * with every command a project ever ran. With sequential scans disabled the planner takes an index
 * when one fits; without the migration's index the plan is still a `Seq Scan`, and the test fails.
 * (Timings are in the README and the migration's comment, never asserted here.)
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import type { Engine } from '../../src/engines/engine.js';
import { closeTestEngines, openTestEngine } from '../helpers/engines.js';
import { testEngines } from '../helpers/project.js';

afterEach(closeTestEngines);

const postgres = testEngines(inject('pgUrl')).filter((t) => t.kind === 'postgres');

/** The state-store queries (as the code sends them) and the index each must use. */
const LOOKUPS: { what: string; sql: string; index: string }[] = [
  { what: 'runs in flight (state/runs.ts listActiveRuns)', sql: `SELECT * FROM {s}.runs WHERE status IN ('queued', 'planned', 'computing', 'cancelling', 'publishing')`, index: 'runs_status' },
  { what: 'the resumable run of a request (findResumableRun)', sql: `SELECT * FROM {s}.runs WHERE run_key = 'k' AND status IN ('planned', 'failed') ORDER BY created_at DESC LIMIT 1`, index: 'runs_run_key' },
  { what: 'the newest runs (listRuns)', sql: `SELECT * FROM {s}.runs ORDER BY created_at DESC, run_id DESC LIMIT 50`, index: 'runs_created' },
  { what: "a run's events (awaited consumers, latestRunEvent)", sql: `SELECT payload FROM {s}.outbox WHERE run_id = 'r' AND event_type = 'run.failed' ORDER BY event_id DESC LIMIT 1`, index: 'outbox_run' },
  { what: 'pending deliveries (dispatch)', sql: `SELECT DISTINCT consumer FROM {s}.deliveries WHERE status = 'pending' ORDER BY consumer`, index: 'deliveries_status' },
  { what: 'what a run published (diff, restore --run)', sql: `SELECT dataset, partition FROM {s}.versions WHERE run_id = 'r' ORDER BY dataset, partition`, index: 'versions_run' },
  { what: 'the change feed (changes --since)', sql: `SELECT * FROM {s}.versions WHERE dataset = 'd' AND publish_seq > 10 AND publish_seq <= 20 ORDER BY publish_seq, partition`, index: 'versions_feed' },
  { what: "a run's audit records (audit log --run, lineage)", sql: `SELECT * FROM {s}.audit WHERE run_id = 'r' ORDER BY seq`, index: 'audit_run' },
  { what: 'recent audit records (audit log --since)', sql: `SELECT * FROM {s}.audit WHERE "at" >= '2026-01-01' ORDER BY seq`, index: 'audit_at' },
];

async function planOf(engine: Engine, sql: string): Promise<string> {
  return engine.transaction(async (tx) => {
    await tx.exec('SET LOCAL enable_seqscan = off');
    const rows = await tx.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql.replaceAll('{s}', engine.dialect.quote(engine.stateSchema))}`);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

describe('state-store lookups use an index (postgres)', () => {
  const target = postgres[0];
  // DuckDB keeps its state tables unindexed (migration 1): only PostgreSQL is checked.
  it.skipIf(!target).each(LOOKUPS)('$what', async ({ sql, index }) => {
    const engine = await openTestEngine(target!, 'stateidx', { migrated: true });
    const plan = await planOf(engine, sql);
    expect(plan, plan).toContain(index);
    expect(plan, plan).not.toMatch(/Seq Scan/);
  });
});
