import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os'; import path from 'node:path'; import { performance } from 'node:perf_hooks';
import { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import { ingest } from '../dist/execute/ingest.js';
import { openWorkspace } from '../dist/workspace.js';
const rows = Number(process.argv[2] ?? 1000000);
const root = mkdtempSync(path.join(os.tmpdir(), 'tmprof-'));
const pq = path.join(root, 'v1.parquet');
{ const i = await DuckDBInstance.create(':memory:'); const c = await i.connect();
  await c.run(`COPY (SELECT i AS order_id, i % 50000 AS customer, round((i % 100000) / 100.0 + 0.99, 2) AS amount, CASE WHEN i % 7 = 0 THEN 'x' END AS legacy_flag, DATE '2025-01-01' + CAST(i % 100 AS INTEGER) AS order_date FROM range(${rows}) t(i)) TO '${pq}' (FORMAT parquet)`); c.closeSync(); }
const stats = new Map();
for (const m of ['run', 'runAndReadAll']) {
  const orig = DuckDBConnection.prototype[m];
  DuckDBConnection.prototype[m] = async function (sql, p) { const t = performance.now(); try { return await orig.call(this, sql, p); } finally { const k = sql.replace(/\s+/g, ' ').slice(0, 110); const s = stats.get(k) ?? { n: 0, ms: 0 }; s.n++; s.ms += performance.now() - t; stats.set(k, s); } };
}
const dir = path.join(root, 'p'); mkdirSync(path.join(dir, 'data'), { recursive: true });
writeFileSync(path.join(dir, 'tidemark.yaml'), `name: b
datasets:
  orders:
    kind: source
    partition: { column: order_date, grain: day }
    key: [order_id]
    schema:
      current: { order_id: BIGINT, customer_id: BIGINT, amount_cents: BIGINT, currency: VARCHAR, order_date: DATE }
      history:
        - version: 1
          columns: { order_id: BIGINT, customer: BIGINT, amount: DOUBLE, legacy_flag: VARCHAR, order_date: DATE }
          adapt: { customer_id: customer, amount_cents: "CAST(round(amount * 100) AS BIGINT)", currency: "'USD'" }
`);
copyFileSync(pq, path.join(dir, 'data', 'v1.parquet'));
const ws = await openWorkspace(dir, { actor: 'b', command: 'b' });
stats.clear();
const t0 = performance.now();
await ingest(ws, 'orders', [path.join(dir, 'data', 'v1.parquet')], { reason: 'b' });
console.log('total', (performance.now() - t0).toFixed(0));
await ws.close();
const list = [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 25);
for (const [k, s] of list) console.log(s.ms.toFixed(0).padStart(6), String(s.n).padStart(4), k);
