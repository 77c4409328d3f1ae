/**
 * `tidemark consumers redeliver` without `--dead` leaves dead-lettered deliveries alone. It used to say
 * only "… 0 dead-lettered." (what this pass dead-lettered), which at 2 a.m. reads as "nothing is dead";
 * it now says how many dead letters it left and that `--dead` re-queues them (`dead_left` in --json).
 * A real webhook consumer whose endpoint is down: a port on 127.0.0.1 that nothing listens on.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { redeliver } from '../../src/api/consumers.js';
import { builtShop, cleanup, cli, cliJson, requireBuild, withWorkspace } from '../helpers/project.js';

/** A port that was free a moment ago: nothing answers on it. */
function closedPort(): Promise<number> {
  const server = createServer();
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    }),
  );
}

describe('consumers redeliver names the dead letters it left (DuckDB)', () => {
  let dir: string;

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop();
    const port = await closedPort();
    const file = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(file, 'utf8').replace('    sql: models/daily_revenue.sql\n', '    sql: models/daily_revenue.sql\n    consumers: [cache]\n');
    writeFileSync(file, `${yaml}\nconsumers:\n  cache: { kind: webhook, url: "http://127.0.0.1:${port}/invalidate", max_attempts: 1, backoff_ms: 0, timeout_ms: 1000 }\n`);
    // Any run notifies its consumers of run.started; with one attempt allowed, the down endpoint dead-letters it.
    const backfill = cli(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'consumer down', '--yes']);
    expect(backfill.code, backfill.stderr).toBe(0);
    expect(backfill.stderr).toMatch(/was not notified/);
  });

  afterAll(() => cleanup(dir));

  it('without --dead: says how many dead letters it left and how to re-queue them', () => {
    const text = cli(dir, ['consumers', 'redeliver']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/0 re-queued, 0 delivered, 0 pending, 0 dead-lettered\./);
    expect(text.stdout).toMatch(/^[1-9]\d* delivery\(ies\) dead-lettered earlier were left as they are: `tidemark consumers redeliver --dead` re-queues them\.$/m);
    const json = cliJson(dir, ['consumers', 'redeliver']);
    expect(json.dead_left).toBeGreaterThan(0);
    const status = cli(dir, ['consumers', 'status', '--json']); // exit 4 while a dead letter is there
    expect(json.dead_left).toBe(JSON.parse(status.stdout).consumers[0].dead);
  });

  it("the library function reports it too: dead_left is part of redeliver()'s result, for the consumer asked about", async () => {
    const dead = JSON.parse(cli(dir, ['consumers', 'status', '--json']).stdout).consumers[0].dead as number;
    expect(dead).toBeGreaterThan(0);
    const report = await withWorkspace(dir, (ws) => redeliver(ws, { consumer: 'cache' }));
    expect(report).toMatchObject({ requeued: 0, dead: 0, dead_left: dead });
  });

  it('with --dead: re-queues them, and leaves none behind', () => {
    const r = cli(dir, ['consumers', 'redeliver', '--dead', '--json']);
    expect(r.code).toBe(1); // still down: dead-lettered again, unacknowledged
    const json = JSON.parse(r.stdout);
    expect(json.requeued).toBeGreaterThan(0);
    expect(json.dead_left).toBe(0);
  });
});
