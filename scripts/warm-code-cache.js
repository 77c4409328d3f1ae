#!/usr/bin/env node
/**
 * Runs the built CLI through a small project's everyday commands so that V8's code cache of the
 * bundle (bin/load-cli.js) holds the functions those commands compile, not only those of whichever
 * command a user happens to run first. TIDEMARK_CODE_CACHE=refresh makes each command rewrite the
 * cache at its exit; each one starts from the previous one's cache, so the last holds them all.
 * Part of `npm run build`; a failure here is reported and ignored (the CLI then caches on first use).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../bin/tidemark.js', import.meta.url));

const PROJECT = `name: warm_up
datasets:
  events:
    kind: source
    partition: { column: day, grain: day }
    key: [id]
    schema:
      current: { id: BIGINT, day: DATE, amount: BIGINT }
  daily:
    kind: model
    sql: models/daily.sql
    partition: { column: day, grain: day }
    key: [day]
`;
const MODEL = `SELECT day, CAST(count(*) AS BIGINT) AS n, CAST(sum(amount) AS BIGINT) AS amount
FROM {{ ref('events') }} WHERE day >= {{ start }} AND day < {{ end }} GROUP BY day
`;
const EVENTS = 'id,day,amount\n1,2026-01-01,10\n2,2026-01-02,20\n3,2026-01-03,30\n';

const COMMANDS = [
  ['ingest', 'events', 'events.csv'],
  ['run'],
  ['status'],
  ['partitions', 'daily'],
  ['plan', 'daily', '--from', '2026-01-02', '--to', '2026-01-03', '--downstream'],
  ['backfill', 'daily', '--from', '2026-01-02', '--to', '2026-01-03', '--reason', 'warm-up', '--yes', '--allow-full-refresh'],
  ['run', '--json'],
];

const dir = mkdtempSync(path.join(os.tmpdir(), 'tidemark-warm-up-'));
try {
  mkdirSync(path.join(dir, 'models'));
  writeFileSync(path.join(dir, 'tidemark.yaml'), PROJECT);
  writeFileSync(path.join(dir, 'models', 'daily.sql'), MODEL);
  writeFileSync(path.join(dir, 'events.csv'), EVENTS);
  for (const args of COMMANDS) {
    execFileSync(process.execPath, [CLI, ...args], { cwd: dir, stdio: 'pipe', env: { ...process.env, TIDEMARK_CODE_CACHE: 'refresh' } });
  }
} catch (error) {
  process.stderr.write(`warning: warming the CLI's code cache failed (${error.message.split('\n')[0]}); commands will cache on first use\n`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
