/**
 * `tidemark audit log | export | lineage`, the all-or-nothing coupling of a write and its audit
 * record (an injected audit failure rolls the whole publish back), and secrets kept out of the
 * trail. Real CLI subprocesses on a real DuckDB project, and on PostgreSQL (issue 8).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { GENESIS_HASH, hashAuditRecord, verifyAuditChain, type AuditRecord } from '../../src/audit/chain.js';
import type { LineageEntry } from '../../src/api/audit.js';
import { readAudit } from '../../src/state/audit.js';
import { stateTable } from '../../src/state/tables.js';
import { applyOrdersFix, builtShop, cleanup, cli, cliJson, requireBuild, snapshotState, tempDir, testEngines, withWorkspace, writeOrdersFix } from '../helpers/project.js';

const FIX_DAYS = ['2026-03-12', '2026-03-13', '2026-03-14'];
const SECRET = 's3cr3t-Value-123';

async function auditRecords(dir: string): Promise<AuditRecord[]> {
  return withWorkspace(dir, (ws) => readAudit(ws.engine, ws.engine));
}

describe.each(testEngines(inject('pgUrl')))('audit commands on a repaired project ($kind)', (engine) => {
  let dir: string;
  let outDir: string;
  let backfillRun: string;

  beforeAll(async () => {
    requireBuild();
    process.env.CACHE_SECRET = SECRET; // read by the helper-run CLIs through the inherited environment
    dir = await builtShop(undefined, undefined, { engine });
    // A consumer whose secret comes from the environment: its value must never reach the trail.
    const yaml = readFileSync(path.join(dir, 'tidemark.yaml'), 'utf8');
    writeFileSync(
      path.join(dir, 'tidemark.yaml'),
      `${yaml}\nconsumers:\n  revenue_cache: { kind: webhook, url: "http://127.0.0.1:9/invalidate", secret: "\${CACHE_SECRET}", pause: true }\n`,
    );
    applyOrdersFix(dir, FIX_DAYS);
    outDir = tempDir('tidemark-audit-export-');
  });
  afterAll(() => {
    delete process.env.CACHE_SECRET;
    cleanup(dir, path.dirname(dir), outDir);
  });

  it('an injected audit failure fails the backfill and leaves data, versions and audit unchanged', async () => {
    const before = await snapshotState(dir);
    const args = ['backfill', 'daily_revenue', '--from', FIX_DAYS[0], '--to', FIX_DAYS[2], '--downstream', '--reason', 'EUR fix', '--yes'];
    const r = cli(dir, args, { env: { TIDEMARK_FAULT_AUDIT: '1' } });
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^error: .*injected failure while writing the audit record/m);
    expect(await snapshotState(dir)).toEqual(before);
    // Without the fault the same command publishes, with its records.
    const ok = cliJson<{ run_id: string; status: string }>(dir, args);
    expect(ok.status).toBe('published');
    backfillRun = ok.run_id;
    const after = await auditRecords(dir);
    expect(after.length).toBe(before.state.audit.length + 3);
    expect(verifyAuditChain(after).ok).toBe(true);
  });

  it('keeps configured secrets and password=-like values out of the record', async () => {
    const r = cli(dir, ['backfill', 'revenue_7d', '--from', FIX_DAYS[2], '--to', FIX_DAYS[2], '--reason', `rotate ${SECRET}; db password=hunter2`, '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const records = await auditRecords(dir);
    const text = JSON.stringify(records);
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('hunter2');
    const last = records[records.length - 1];
    expect(last.command).toContain('rotate ***; db password=***');
    expect(last.reason).toBe('rotate ***; db password=***');
    expect(r.stdout).not.toContain(SECRET);
  });

  it('log filters by dataset, run and time, and prints every record as JSON', async () => {
    const all = cliJson<AuditRecord[]>(dir, ['audit', 'log']);
    expect(all).toEqual(await auditRecords(dir));
    expect(all.map((r) => r.seq)).toEqual(all.map((_, i) => i + 1));

    const orders = cliJson<AuditRecord[]>(dir, ['audit', 'log', '--dataset', 'orders']);
    expect(orders.map((r) => r.seq)).toEqual(all.filter((r) => r.dataset === 'orders').map((r) => r.seq));
    expect(orders.length).toBe(2); // the first load and the fix

    const run = cliJson<AuditRecord[]>(dir, ['audit', 'log', '--run', backfillRun]);
    expect(run.map((r) => r.dataset)).toEqual(['daily_revenue', 'monthly_revenue', 'revenue_7d']);
    expect(run.every((r) => r.action === 'backfill' && r.reason === 'EUR fix')).toBe(true);

    expect(cliJson<AuditRecord[]>(dir, ['audit', 'log', '--since', '2000-01-01'])).toHaveLength(all.length);
    expect(cliJson<AuditRecord[]>(dir, ['audit', 'log', '--since', '2999-01-01T00:00'])).toHaveLength(0);
    expect(cliJson<AuditRecord[]>(dir, ['audit', 'log', '--since', all[5].at])).toHaveLength(all.length - 5); // from the fix on
    const bad = cli(dir, ['audit', 'log', '--since', 'yesterday-ish']);
    expect(bad.code).toBe(2);

    const text = cli(dir, ['audit', 'log', '--dataset', 'daily_revenue']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/backfill\s+daily_revenue\s+2026-03-12\.\.2026-03-14\s+EUR fix/);
  });

  it('export writes one canonical record per line and ends with the head, which verify accepts', () => {
    const verdict = cliJson<{ ok: boolean; count: number; head: string }>(dir, ['audit', 'verify']);
    const r = cli(dir, ['audit', 'export', '--format', 'jsonl']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(verdict.count + 1);
    const records = lines.slice(0, -1).map((l) => JSON.parse(l) as AuditRecord);
    // Anyone can recompute the chain from the export alone.
    for (const rec of records) expect(hashAuditRecord(rec)).toBe(rec.hash);
    expect(verifyAuditChain(records)).toMatchObject({ ok: true, head: verdict.head });
    expect(records[0].prev_hash).toBe(GENESIS_HASH);
    expect(lines[0].startsWith('{"action":')).toBe(true); // keys sorted (RFC 8785)
    expect(JSON.parse(lines[lines.length - 1])).toEqual({ head: verdict.head, count: verdict.count });
    expect(cli(dir, ['audit', 'verify', '--head', verdict.head]).code).toBe(0);

    const file = path.join(outDir, 'audit.jsonl');
    const written = cliJson<{ file: string; count: number; head: string }>(dir, ['audit', 'export', '--output', file]);
    expect(written).toEqual({ file, count: verdict.count, head: verdict.head });
    expect(readFileSync(file, 'utf8')).toBe(r.stdout);

    expect(cli(dir, ['audit', 'export', '--format', 'csv']).code).toBe(2);
  });

  it('lineage shows every version of a repaired partition: who, when, why, which run, which upstream versions', async () => {
    const day = FIX_DAYS[1];
    const entries = cliJson<LineageEntry[]>(dir, ['audit', 'lineage', 'daily_revenue', '--partition', day]);
    expect(entries.map((e) => e.version)).toEqual([1, 2]);
    const [built, repaired] = entries;
    expect(built).toMatchObject({ kind: 'new', run_kind: 'run', actor: 'test', reason: 'scheduled run: build missing and stale partitions' });
    expect(repaired).toMatchObject({ kind: 'restate', run_kind: 'backfill', run_id: backfillRun, actor: 'test', reason: 'EUR fix', replaced_at: null });
    expect(built.replaced_at).toBe(repaired.published_at);
    // Built from version 1 of the day's orders, repaired from version 2 (the fix), same FX rates.
    expect(built.inputs).toEqual([
      { dataset: 'fx_rates', partition: day, version: 1 },
      { dataset: 'orders', partition: day, version: 1 },
    ]);
    expect(repaired.inputs).toEqual([
      { dataset: 'fx_rates', partition: day, version: 1 },
      { dataset: 'orders', partition: day, version: 2 },
    ]);
    // Rows and checksums are those of the versions table; each version points at its audit record.
    const versions = await withWorkspace(dir, (ws) =>
      ws.engine.query<{ version: number; rows: number; checksum: string }>(`SELECT version, rows, checksum FROM ${stateTable(ws.engine, 'versions')} WHERE dataset = 'daily_revenue' AND partition = $1 ORDER BY version`, [day]),
    );
    expect(entries.map((e) => [e.version, e.rows, e.checksum])).toEqual(versions.map((v) => [Number(v.version), Number(v.rows), v.checksum]));
    const records = await auditRecords(dir);
    for (const e of entries) {
      const rec = records.find((r) => r.seq === e.audit_seq)!;
      expect(rec.run_id).toBe(e.run_id);
      expect(rec.partitions).toContain(day);
      expect(e.command).toBe(rec.command);
    }

    const text = cli(dir, ['audit', 'lineage', 'daily_revenue', '--partition', day]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('v2 (live)');
    expect(text.stdout).toMatch(/orders 2026-03-13 v2/);

    expect(cli(dir, ['audit', 'lineage', 'daily_revenue', '--partition', '2020-01-01']).code).toBe(2);
    expect(cli(dir, ['audit', 'lineage', 'nope', '--partition', day]).code).toBe(2);
  });

  // Last: it damages the state store (and repairs it) under the shared project.
  it('a missing state table fails a write (exit 1) naming the table, with a way back; nothing is published', async () => {
    const renameAudit = (from: string, to: string) => withWorkspace(dir, (ws) => ws.engine.exec(`ALTER TABLE ${stateTable(ws.engine, from)} RENAME TO ${ws.engine.dialect.quote(to)}`));
    const schema = await withWorkspace(dir, async (ws) => ws.engine.stateSchema);
    const [file] = writeOrdersFix(dir, ['2026-03-02']);
    const before = await snapshotState(dir);
    await renameAudit('audit', 'audit_renamed');
    let r;
    try {
      r = cli(dir, ['ingest', 'orders', file]);
    } finally {
      await renameAudit('audit_renamed', 'audit');
    }
    expect(r.code, r.stderr).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => /^(error|hint):/.test(l));
    expect(lines).toEqual([
      `error: the state store is damaged: the state table ${schema}.audit is missing (renamed or dropped outside Tidemark)`,
      expect.stringMatching(/^hint: rename the table back to .*audit if it was renamed, or restore .* from a backup; then `tidemark audit verify`/),
    ]);
    expect(r.stderr).not.toMatch(/Catalog Error|relation ".*" does not exist/);
    expect(await snapshotState(dir)).toEqual(before);
    // A user's own query of a table that does not exist is still a SQL error (exit 2).
    expect(cli(dir, ['query', 'SELECT * FROM no_such_table']).code).toBe(2);
  });
});
