/**
 * A consumer told that a run started is told that it ended. A backfill that recomputes partitions to
 * the content they already hold publishes no version of them: before, a webhook following that
 * dataset heard `run.started` ("a backfill is starting on these partitions": a dashboard shows a
 * banner, a cache stops refreshing) and then nothing, ever. It now hears the run's `run.published`
 * too, listing no partition of its datasets. A consumer that only takes `run.published` (sql, file)
 * hears nothing from such a run, as before: nothing it reads changed.
 * A real HTTP server on 127.0.0.1 in this process; the CLI runs as a subprocess (cliAsync).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtShop, cleanup, cliAsync, requireBuild } from '../helpers/project.js';
import { startRecordingServer, type RecordingServer } from '../helpers/recording-server.js';

describe('a run that changes nothing a webhook follows (DuckDB)', () => {
  let dir: string;
  let server: RecordingServer;
  const received = () => server.requests.map((r) => JSON.parse(r.body) as { type: string; run_id: string; partitions: { dataset: string }[] });

  beforeAll(async () => {
    requireBuild();
    server = await startRecordingServer();
    const url = `${server.base}/events`;
    dir = await builtShop();
    const file = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(file, 'utf8').replace('    sql: models/daily_revenue.sql\n', '    sql: models/daily_revenue.sql\n    consumers: [dashboard, marker]\n');
    writeFileSync(file, `${yaml}\nconsumers:\n  dashboard: { kind: webhook, url: "${url}", max_attempts: 2, backoff_ms: 0, timeout_ms: 5000 }\n  marker: { kind: file, path: ready/daily_revenue.json }\n`);
  });

  afterAll(async () => {
    await server.close();
    cleanup(dir);
  });

  it('hears run.started and then run.published, which lists no partition of its datasets; the run completes', async () => {
    const r = await cliAsync(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-03', '--reason', 'recompute, same content', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { run_id: string; published: unknown[]; unchanged: number; deliveries?: { delivered: number; failed: unknown[] } };
    expect(result.published).toEqual([]);
    expect(result.unchanged).toBe(3);

    const heard = received().filter((e) => e.run_id === result.run_id);
    expect(heard.map((e) => e.type)).toEqual(['run.started', 'run.published']);
    expect(heard[1].partitions.filter((p) => p.dataset === 'daily_revenue')).toEqual([]);

    const runs = JSON.parse((await cliAsync(dir, ['runs', '--json'])).stdout) as { run_id: string; status: string }[];
    expect(runs.find((x) => x.run_id === result.run_id)?.status).toBe('complete');
    const deliveries = JSON.parse((await cliAsync(dir, ['query', `SELECT d.consumer, o.event_type FROM tidemark.deliveries d JOIN tidemark.outbox o USING (event_id) WHERE o.run_id = '${result.run_id}' ORDER BY 1, 2`, '--json'])).stdout);
    // The file marker takes run.published only when what it follows changed: nothing did.
    expect(deliveries).toEqual([
      { consumer: 'dashboard', event_type: 'run.published' },
      { consumer: 'dashboard', event_type: 'run.started' },
    ]);
  });
});
