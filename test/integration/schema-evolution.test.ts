// A source's schema evolving once its live table has data (issue 6). The shop's orders are loaded
// under their first shape, then tidemark.yaml gains a column (`channel`) and the old shape moves to
// schema.history with an adapter. The first ingest that publishes under the new schema adds the column
// to the live table in its publish transaction (audited); rows loaded before get NULL until their file
// is ingested again, which — same bytes, another mapping — reloads it through the adapter. A change
// that is not additive (a column renamed, retyped) is refused before anything is written.
import { writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { applyOrdersFix, cli, cliJson, dataFiles, days, projectCopies, requireBuild, scaffoldShop, snapshotState, testEngines, withWorkspace } from '../helpers/project.js';

const FROM = '2026-03-01';
const TO = '2026-03-06';
/** Loaded again (fixed) before the schema changes: their first versions are in history. */
const FIXED = ['2026-03-05', '2026-03-06'];
const NEW_DAY = '2026-03-07';

const OLD_COLUMNS = 'order_id: BIGINT, customer_id: BIGINT, amount_cents: BIGINT, currency: VARCHAR, status: VARCHAR, order_date: DATE';
const CURRENT_LINE = `      current: { ${OLD_COLUMNS} }\n`;

/** The config after the change: channel added, the old shape kept as version 1 with a default. */
function evolveConfig(dir: string): void {
  replaceInConfig(
    dir,
    CURRENT_LINE,
    `      current: { ${OLD_COLUMNS}, channel: VARCHAR }
      history:
        - version: 1
          columns: { ${OLD_COLUMNS} }
          adapt: { channel: "'web'" }
`,
  );
}

function replaceInConfig(dir: string, from: string, to: string): void {
  const file = path.join(dir, 'tidemark.yaml');
  const yaml = readFileSync(file, 'utf8');
  if (!yaml.includes(from)) throw new Error('the shop tidemark.yaml no longer declares orders as expected');
  writeFileSync(file, yaml.replace(from, to));
}

/** A file in the new shape (with channel) for `day`. */
function writeNewShapeFile(dir: string, day: string): string {
  const rel = path.join('data', 'orders', `orders-${day}.csv`);
  writeFileSync(
    path.join(dir, rel),
    `order_id,customer_id,amount_cents,currency,status,order_date,channel\n9000000001,1,1500,USD,paid,${day},app\n9000000002,2,2500,EUR,paid,${day},store\n9000000003,3,500,USD,refunded,${day},\n`,
  );
  return rel;
}

interface PartitionState {
  version: number;
  checksum: string;
  /** The checksum aggregate over schema.current, recomputed now from the live rows. */
  recomputed: string;
}

/** Each orders partition: recorded version and checksum, and the checksum recomputed from live. */
async function ordersPartitions(dir: string): Promise<Record<string, PartitionState>> {
  return withWorkspace(dir, async (ws) => {
    const { engine } = ws;
    const d = engine.dialect;
    const ds = ws.project.datasets.get('orders')!;
    // Before the live table has a newly declared column, the checksum is over the columns it has.
    const stored = new Set((await engine.columns(engine.dataSchema, 'orders'))!.map((c) => c.name));
    const columns = (ds.kind === 'source' ? ds.columns : []).map((c) => c.name).filter((c) => stored.has(c));
    const recorded = await engine.query<{ partition: string; version: number; checksum: string }>(
      `SELECT partition, version, checksum FROM ${d.table(engine.stateSchema, 'partitions')} WHERE dataset = 'orders'`,
    );
    const live = await engine.query<{ partition: string; checksum: string }>(
      `SELECT ${d.partitionKey(d.quote('order_date'), 'day')} AS partition, ${d.checksum(columns)} AS checksum FROM ${d.table(engine.dataSchema, 'orders')} GROUP BY 1`,
    );
    const now = new Map(live.map((r) => [r.partition, String(r.checksum)]));
    return Object.fromEntries(recorded.map((r) => [r.partition, { version: Number(r.version), checksum: String(r.checksum), recomputed: now.get(r.partition) ?? '0' }]));
  });
}

/** Rows per channel (NULL as '(null)') of the partitions given. */
async function channels(dir: string, partitions: string[]): Promise<Record<string, number>> {
  return withWorkspace(dir, async (ws) => {
    const d = ws.engine.dialect;
    const params = partitions.map((_, i) => `$${i + 1}`).join(', ');
    const rows = await ws.engine.query<{ channel: string | null; n: number }>(
      `SELECT channel, count(*) AS n FROM ${d.table(ws.engine.dataSchema, 'orders')} WHERE ${d.partitionKey(d.quote('order_date'), 'day')} IN (${params}) GROUP BY channel`,
      partitions,
    );
    return Object.fromEntries(rows.map((r) => [r.channel ?? '(null)', Number(r.n)]));
  });
}

async function lastOrdersAudit(dir: string): Promise<Record<string, any>> {
  return withWorkspace(dir, async (ws) => {
    const [row] = await ws.engine.query<{ details: string }>(
      `SELECT details FROM ${ws.engine.dialect.table(ws.engine.stateSchema, 'audit')} WHERE dataset = 'orders' ORDER BY seq DESC LIMIT 1`,
    );
    return JSON.parse(row.details) as Record<string, any>;
  });
}

async function runCount(dir: string): Promise<number> {
  return withWorkspace(dir, async (ws) => Number((await ws.engine.query<{ n: number }>(`SELECT count(*) AS n FROM ${ws.engine.dialect.table(ws.engine.stateSchema, 'runs')}`))[0].n));
}

describe.each(testEngines(inject('pgUrl')))('a source schema evolving once it has data ($kind)', { timeout: 300_000 }, (engine) => {
  let base = '';
  const copies = projectCopies(() => base);

  beforeAll(async () => {
    requireBuild();
    base = await scaffoldShop(FROM, TO, { engine });
    cliJson(base, ['ingest', 'orders', ...dataFiles(base, 'orders')]);
    applyOrdersFix(base, FIXED);
  }, 300_000);
  afterAll(() => copies.removeAll());

  it('adds a new column on the first ingest under the new schema, then fills old partitions when their files are ingested again', async () => {
    const dir = copies.fresh();
    const before = await ordersPartitions(dir);
    const oldDays = days(FROM, TO);
    expect(Object.keys(before).sort()).toEqual(oldDays);
    evolveConfig(dir);

    // schema check tells what the next ingest does, in text and JSON, without writing.
    const text = cli(dir, ['schema', 'check', 'orders']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('Live table orders: the next ingest that publishes adds channel VARCHAR');
    expect(text.stdout).toContain(`Loaded files now read through another schema mapping (their next ingest loads them again, e.g. to fill new columns): ${oldDays.length}`);
    const check = cliJson(dir, ['schema', 'check', 'orders']);
    expect(check.ok).toBe(true);
    expect(check.live_table).toEqual({ added: [{ name: 'channel', type: 'VARCHAR' }], removed: [], retyped: [], additive: true });
    expect(check.files.filter((f: { reload?: boolean }) => f.reload).length).toBe(oldDays.length);
    expect(await ordersPartitions(dir)).toEqual(before);

    // A file of the new shape: the live table gains channel in the same publish.
    const newFile = writeNewShapeFile(dir, NEW_DAY);
    const dry = cliJson(dir, ['ingest', 'orders', newFile, '--dry-run']);
    expect(dry.schema_change).toEqual({ added: [{ name: 'channel', type: 'VARCHAR' }] });
    const first = cliJson(dir, ['ingest', 'orders', newFile]);
    expect(first.status).toBe('published');
    expect(first.files).toEqual([{ file: newFile.split(path.sep).join('/'), status: 'new', schema_version: 2 }]);
    expect(first.schema_change).toEqual({ added: [{ name: 'channel', type: 'VARCHAR' }] });
    expect(first.published.map((p: { partition: string }) => p.partition)).toEqual([NEW_DAY]);
    expect(await channels(dir, [NEW_DAY])).toEqual({ app: 1, store: 1, '(null)': 1 });
    expect(Object.keys(await channels(dir, oldDays))).toEqual(['(null)']);
    const rowsOfDay2 = (await channels(dir, ['2026-03-02']))['(null)'];

    // Old partitions: same versions; their recorded checksums were recomputed over the new columns in
    // that publish, so they equal what is recomputed from the live rows (and the audit says so).
    const evolved = await ordersPartitions(dir);
    for (const day of oldDays) {
      expect(evolved[day].version).toBe(before[day].version);
      expect(evolved[day].checksum).toBe(evolved[day].recomputed);
    }
    expect(evolved[NEW_DAY]).toMatchObject({ version: 1 });
    expect(evolved[NEW_DAY].checksum).toBe(evolved[NEW_DAY].recomputed);
    const audit = await lastOrdersAudit(dir);
    expect(audit.schema_change).toEqual({
      added: [{ name: 'channel', type: 'VARCHAR' }],
      checksums_recomputed: { current: oldDays.length, replaced: FIXED.length },
      // Sealed in the trail: each current version's new checksum.
      checksums: Object.fromEntries(oldDays.map((day) => [day, evolved[day].recomputed])),
    });
    // Live rows, records and the trail agree after the change.
    const verified = cli(dir, ['audit', 'verify', '--data', 'orders']);
    expect(verified.code, verified.stderr).toBe(0);

    // Ingesting everything again under the unchanged config would reload the old files only (new
    // mapping); the new-shape file stays a no-op.
    const plan = cliJson(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders'), '--dry-run']);
    const statuses = Object.fromEntries(plan.files.map((f: { file: string; status: string }) => [f.file, f.status]));
    expect(statuses[newFile.split(path.sep).join('/')]).toBe('unchanged');
    expect(Object.values(statuses).filter((s) => s === 'remapped').length).toBe(oldDays.length);
    expect(plan.schema_change).toBeUndefined();

    // One old file, same bytes, now read through version 1's adapter: its partition is filled with
    // 'web'; every other partition keeps its version and checksum.
    const refill = dataFiles(dir, 'orders').find((f) => f.includes('2026-03-02'))!;
    const again = cliJson(dir, ['ingest', 'orders', refill]);
    expect(again.files).toEqual([{ file: refill.split(path.sep).join('/'), status: 'remapped', schema_version: 1 }]);
    expect(again.published.map((p: { partition: string; version_after: number }) => [p.partition, p.version_after])).toEqual([['2026-03-02', before['2026-03-02'].version + 1]]);
    expect(await channels(dir, ['2026-03-02'])).toEqual({ web: rowsOfDay2 });
    const refilled = await ordersPartitions(dir);
    for (const [day, state] of Object.entries(refilled)) {
      if (day === '2026-03-02') expect(state.checksum).not.toBe(evolved[day].checksum);
      else expect(state).toEqual(evolved[day]);
      expect(state.checksum).toBe(state.recomputed);
    }
    // The same file under the same mapping is a no-op again.
    const noop = cliJson(dir, ['ingest', 'orders', refill]);
    expect(noop.status).toBe('noop');
    expect(noop.files[0].status).toBe('unchanged');

    // A version replaced before the change is still restorable: its recorded checksum was recomputed
    // with the new (NULL) column, exactly as restore recomputes it from history.
    const restored = cliJson(dir, ['restore', 'orders', '--from', FIXED[0], '--to', FIXED[0], '--version', '1', '--reason', 'restore a pre-evolution version', '--yes']);
    expect(restored.status).toBe('published');
    const afterRestore = await ordersPartitions(dir);
    expect(afterRestore[FIXED[0]].checksum).toBe(afterRestore[FIXED[0]].recomputed);
    expect(Object.keys(await channels(dir, [FIXED[0]]))).toEqual(['(null)']);
  });

  it('keeps the rows other files gave a partition, with NULL in the new column, when a new-shape file adds to it', async () => {
    const dir = copies.fresh();
    evolveConfig(dir);
    const day = '2026-03-03';
    const rowsBefore = await withWorkspace(dir, async (ws) =>
      Number((await ws.engine.query<{ rows: number }>(`SELECT rows FROM ${ws.engine.dialect.table(ws.engine.stateSchema, 'partitions')} WHERE dataset = 'orders' AND partition = $1`, [day]))[0].rows),
    );
    const extra = path.join('data', 'orders', `orders-${day}-late.csv`);
    writeFileSync(path.join(dir, extra), `order_id,customer_id,amount_cents,currency,status,order_date,channel\n9100000001,7,900,USD,paid,${day},app\n`);
    const r = cliJson(dir, ['ingest', 'orders', extra]);
    expect(r.schema_change).toEqual({ added: [{ name: 'channel', type: 'VARCHAR' }] });
    expect(r.published.map((p: { partition: string }) => p.partition)).toEqual([day]);
    expect(await channels(dir, [day])).toEqual({ '(null)': rowsBefore, app: 1 });
    const state = await ordersPartitions(dir);
    for (const s of Object.values(state)) expect(s.checksum).toBe(s.recomputed);
  });

  it('rolls the column back with everything else when the publish is killed', async () => {
    const dir = copies.fresh();
    evolveConfig(dir);
    const newFile = writeNewShapeFile(dir, NEW_DAY);
    const before = await snapshotState(dir);
    const killed = cli(dir, ['ingest', 'orders', newFile, '--json'], { env: { TIDEMARK_CRASH_AT: 'publish.before_commit' } });
    expect(killed.signal).toBe('SIGKILL');
    const after = await snapshotState(dir);
    expect(after.state).toEqual(before.state);
    expect(Object.keys(after.live.orders[0])).not.toContain('channel');
    // Issued again, it completes.
    const done = cliJson(dir, ['ingest', 'orders', newFile]);
    expect(done.status).toBe('published');
    expect(done.schema_change).toEqual({ added: [{ name: 'channel', type: 'VARCHAR' }] });
  });

  it('refuses a change that is not additive before writing anything, naming the columns', async () => {
    const dir = copies.fresh();
    // customer_id renamed to buyer_id, amount_cents retyped to DOUBLE.
    replaceInConfig(dir, CURRENT_LINE, `      current: { order_id: BIGINT, buyer_id: BIGINT, amount_cents: DOUBLE, currency: VARCHAR, status: VARCHAR, order_date: DATE }\n`);
    const rel = path.join('data', 'orders', `orders-${NEW_DAY}.csv`);
    writeFileSync(path.join(dir, rel), `order_id,buyer_id,amount_cents,currency,status,order_date\n9000000001,1,15.5,USD,paid,${NEW_DAY}\n`);
    const before = await snapshotState(dir);
    const runsBefore = await runCount(dir);

    const r = cli(dir, ['ingest', 'orders', rel]);
    expect(r.code).toBe(2);
    const errors = r.stderr.split('\n').filter((l) => l.startsWith('error:'));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain('orders: schema.current is not an additive change of the live table');
    expect(errors[0]).toContain('customer_id (live BIGINT) is no longer declared');
    expect(errors[0]).toContain('amount_cents is BIGINT in the live table but DOUBLE in schema.current');
    expect(errors[0]).toContain('new: buyer_id BIGINT');
    expect(r.stderr).toMatch(/^hint: .*schema\.history entry with an adapt map/m);
    expect(r.stderr).not.toContain('Binder Error');

    // Even re-ingesting files already loaded is refused the same way; nothing changed, no run left.
    expect(cli(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders')]).code).toBe(2);
    expect(await snapshotState(dir)).toEqual(before);
    expect(await runCount(dir)).toBe(runsBefore);

    // schema check reports the conflict (exit 4), in text and JSON.
    const check = cli(dir, ['schema', 'check', 'orders', '--json']);
    expect(check.code).toBe(4);
    expect(JSON.parse(check.stdout).live_table).toEqual({
      added: [{ name: 'buyer_id', type: 'BIGINT' }],
      removed: [{ name: 'customer_id', type: 'BIGINT' }],
      retyped: [{ name: 'amount_cents', live: 'BIGINT', declared: 'DOUBLE' }],
      additive: false,
    });
    const text = cli(dir, ['schema', 'check', 'orders']);
    expect(text.code).toBe(4);
    expect(text.stdout).toContain('Live table orders: schema.current is not an additive change; ingest refuses it');
    expect(text.stderr).toMatch(/^error: orders: schema.current is not an additive change of the live table \(only new columns are added automatically\): customer_id \(live BIGINT\) is no longer declared/m);
    expect(text.stderr).toMatch(/^hint: keep the live columns as they are in datasets\.orders\.schema\.current/m);
  });
});
