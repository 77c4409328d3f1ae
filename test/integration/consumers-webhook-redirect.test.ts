/**
 * A webhook endpoint that answers with a redirect (an http → https move, a trailing-slash rule of a
 * load balancer) did not receive the event, and must not count as having acknowledged it. fetch
 * follows a 302 of a POST as a GET without the body: the page it landed on answered 200 and the
 * delivery was recorded `delivered`, the run `complete`, while the dashboard kept its old numbers
 * (failure mode 8). Now a 3xx is a failed attempt that names where it points.
 * A real HTTP server on 127.0.0.1 in this process; the CLI runs as a subprocess (cliAsync).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOrdersFix, builtShop, cleanup, cliAsync, requireBuild } from '../helpers/project.js';
import { startRecordingServer, type RecordedRequest, type RecordingServer } from '../helpers/recording-server.js';

describe('a webhook answering with a redirect (DuckDB)', () => {
  let dir: string;
  let server: RecordingServer;
  let base: string;
  let requests: RecordedRequest[];

  beforeAll(async () => {
    requireBuild();
    server = await startRecordingServer((req, res) => {
      if (req.url === '/invalidate') res.writeHead(302, { location: '/invalidate/' }).end();
      else res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
    ({ base, requests } = server);
    dir = await builtShop();
    applyOrdersFix(dir, ['2026-03-01']); // the backfill then publishes a change: its run.published has a recipient
    const file = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(file, 'utf8').replace('    sql: models/daily_revenue.sql\n', '    sql: models/daily_revenue.sql\n    consumers: [cache]\n');
    writeFileSync(file, `${yaml}\nconsumers:\n  cache: { kind: webhook, url: "${base}/invalidate", max_attempts: 1, backoff_ms: 0, timeout_ms: 2000 }\n`);
  });

  afterAll(async () => {
    await server.close();
    cleanup(dir);
  });

  it('is a failed attempt naming where it points, not an acknowledgement; the run is not complete', async () => {
    const r = await cliAsync(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'redirected consumer', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0); // the publish committed; the consumer problem is a warning
    const result = JSON.parse(r.stdout) as { run_id: string; deliveries: { delivered: number; dead: number; failed: { error: string }[] } };
    expect(result.deliveries.delivered).toBe(0);
    expect(result.deliveries.failed.map((f) => (f as { event_type?: string }).event_type)).toEqual(['run.started', 'run.published']);
    for (const f of result.deliveries.failed) expect(f.error).toBe(`HTTP 302: redirected to ${base}/invalidate/; webhooks are not followed across redirects (the event would arrive without its body): set the consumer's url to the address that takes the POST`);
    expect(r.stderr).toMatch(/^warning: required consumer 'cache' was not notified of run\.started of run r\S+: HTTP 302: redirected to /m);
    // Nothing went to the redirect's target: it was not sent there as a bodiless GET.
    expect(requests.filter((q) => q.url !== '/invalidate')).toEqual([]);
    expect(requests.every((q) => q.method === 'POST' && q.body.length > 0)).toBe(true);

    const status = await cliAsync(dir, ['consumers', 'status', '--json']);
    expect(status.code).toBe(4); // a required consumer has a dead letter
    const runs = JSON.parse((await cliAsync(dir, ['runs', '--json'])).stdout) as { run_id: string; status: string }[];
    expect(runs.find((x) => x.run_id === result.run_id)?.status).not.toBe('complete');
  });
});
