// A day given as --to of an hourly dataset (real CLI, DuckDB: planning is the same on every engine).
// `--to 2026-03-01` is the partition 2026-03-01T00, that day's first hour: a backfill "of March 1st"
// written that way rebuilds one hour of it. The plan says so (a TO_FIRST_HOUR notice naming the
// --to that takes in the whole day), exit 0; an hour or a --from given as a day gets no notice.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cleanup, cliJson, requireBuild, tempDir } from '../helpers/project.js';

let dir: string;

beforeAll(() => {
  requireBuild();
  dir = tempDir('tidemark-hourly-');
  mkdirSync(path.join(dir, 'models'));
  mkdirSync(path.join(dir, 'data'));
  writeFileSync(
    path.join(dir, 'tidemark.yaml'),
    [
      'name: hourly',
      'datasets:',
      '  clicks:',
      '    kind: source',
      '    partition: { column: clicked_at, grain: hour }',
      '    key: [click_id]',
      '    schema: { current: { click_id: BIGINT, clicked_at: TIMESTAMP } }',
      '  hourly:',
      '    kind: model',
      '    sql: models/hourly.sql',
      '    partition: { column: hour, grain: hour }',
      '    key: [hour]',
      '',
    ].join('\n'),
  );
  writeFileSync(
    path.join(dir, 'models', 'hourly.sql'),
    "SELECT CAST(date_trunc('hour', clicked_at) AS TIMESTAMP) AS hour, CAST(count(*) AS BIGINT) AS clicks\nFROM {{ ref('clicks') }} WHERE clicked_at >= {{ start }} AND clicked_at < {{ end }} GROUP BY 1\n",
  );
  const rows = Array.from({ length: 48 }, (_, h) => `${h + 1},2026-03-0${1 + Math.floor(h / 24)} ${String(h % 24).padStart(2, '0')}:30:00`);
  writeFileSync(path.join(dir, 'data', 'clicks.csv'), `click_id,clicked_at\n${rows.join('\n')}\n`);
  cliJson(dir, ['ingest', 'clicks', 'data/clicks.csv']);
  cliJson(dir, ['run']);
}, 120_000);
afterAll(() => cleanup(dir));

interface PlanJson {
  datasets: { dataset: string; partitions: string[] }[];
  guards: { code: string; dataset: string; partitions: string[]; message: string; hint: string; blocking: boolean }[];
}

describe('--to given as a day on an hourly dataset', () => {
  it('is the first hour of that day, and the plan says so with the --to that takes in the whole day', () => {
    const plan = cliJson<PlanJson>(dir, ['plan', 'hourly', '--from', '2026-03-01', '--to', '2026-03-01']);
    expect(plan.datasets).toEqual([{ dataset: 'hourly', partitions: ['2026-03-01T00'], reasons: { '2026-03-01T00': 'requested' } }]);
    expect(plan.guards).toEqual([
      {
        code: 'TO_FIRST_HOUR',
        dataset: 'hourly',
        partitions: ['2026-03-01T00'],
        message: 'hourly: --to 2026-03-01 names the hour 2026-03-01T00, the first of that day: the range ends there, not at the end of the day',
        hint: 'partitions are hours: to take in the whole day, give --to 2026-03-01T23',
        blocking: false,
      },
    ]);
  });

  it('an hour as --to, and a day as --from, get no notice', () => {
    const plan = cliJson<PlanJson>(dir, ['plan', 'hourly', '--from', '2026-03-01', '--to', '2026-03-01T23']);
    expect(plan.datasets[0].partitions).toHaveLength(24);
    expect(plan.guards).toEqual([]);
    expect(cliJson<PlanJson>(dir, ['plan', 'hourly', '--last', '3h']).guards).toEqual([]);
  });
});
