// Drill, scenario 9 ("reprocessing breaks incremental pipeline logic"), replayed with the real CLI.
// The checkpoint of an incremental model is found wrong; `checkpoint validate` exits 4, and its hint
// must be the next command to type, with the value filled in: the data's maximum for a mark that is
// ahead of the data, the current mark for rows behind it (their partitions are then replayed). It
// used to say `--to VALUE`, leaving the on-call engineer to work the value out at 2 a.m.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { cleanup, cli, cliJson, dataFiles, requireBuild, scaffoldShop, testEngines, withWorkspace } from '../helpers/project.js';
import { stateTable } from '../../src/state/tables.js';

describe.each(testEngines(inject('pgUrl')))('drill 9: a wrong checkpoint is repaired by the command validate names ($kind)', (engine) => {
  let dir = '';
  beforeAll(async () => {
    requireBuild();
    dir = await scaffoldShop('2026-03-01', '2026-03-10', { engine });
    writeFileSync(path.join(dir, 'models', 'order_facts.sql'), "SELECT order_id, amount_cents, order_date FROM {{ ref('orders') }} WHERE order_date >= {{ start }} AND order_date < {{ end }}\n");
    writeFileSync(
      path.join(dir, 'tidemark.yaml'),
      `name: drill9\nengine: ${engine.kind === 'duckdb' ? '{ kind: duckdb }' : `{ kind: postgres, url: ${JSON.stringify(engine.url)} }`}\ndatasets:\n` +
        `  orders:\n    kind: source\n    partition: { column: order_date, grain: day }\n    key: [order_id]\n    schema:\n      current: { order_id: BIGINT, customer_id: BIGINT, amount_cents: BIGINT, currency: VARCHAR, status: VARCHAR, order_date: DATE }\n` +
        `  order_facts:\n    kind: model\n    sql: models/order_facts.sql\n    partition: { column: order_date, grain: day }\n    key: [order_id]\n    incremental: { cursor: order_id }\n`,
    );
    cliJson(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders')]);
    cliJson(dir, ['run']);
  });
  afterAll(() => cleanup(dir));

  const setMark = (value: string) => withWorkspace(dir, (ws) => ws.engine.exec(`UPDATE ${stateTable(ws.engine, 'checkpoints')} SET value = $1`, [value]));
  const hintedReset = (stderr: string) => {
    const m = /^hint: preview a repair: tidemark (checkpoint reset order_facts --to (\S+) --reason "…" --dry-run)$/m.exec(stderr);
    expect(m, stderr).not.toBeNull();
    return { value: m![2], args: ['checkpoint', 'reset', 'order_facts', '--to', m![2], '--reason', 'INC-9 repair the mark', '--yes'] };
  };

  it('a mark ahead of the data: the hint names the data maximum, and that reset makes validate pass', async () => {
    const { data_max } = cliJson<{ data_max: string }>(dir, ['checkpoint', 'show', 'order_facts']);
    await setMark(String(BigInt(data_max) + 1000n));
    const bad = cli(dir, ['checkpoint', 'validate', 'order_facts']);
    expect(bad.code).toBe(4);
    const reset = hintedReset(bad.stderr);
    expect(reset.value).toBe(data_max);
    expect(cli(dir, reset.args).code).toBe(0);
    expect(cli(dir, ['checkpoint', 'validate', 'order_facts']).code).toBe(0);
  });

  it('rows behind the mark: the hint names the current mark, and that reset plus a run makes validate pass', async () => {
    const { data_max } = cliJson<{ data_max: string }>(dir, ['checkpoint', 'show', 'order_facts']);
    const behind = String(BigInt(data_max) - 500n);
    await setMark(behind);
    const bad = cli(dir, ['checkpoint', 'validate', 'order_facts']);
    expect(bad.code).toBe(4);
    const reset = hintedReset(bad.stderr);
    expect(reset.value).toBe(behind);
    expect(cli(dir, reset.args).code).toBe(0);
    // Monitoring after the fix: status says how far the model has caught up, then that it has.
    const facts = () => cliJson<{ datasets: { dataset: string; complete_through: string | null; incomplete_at: { state: string } | null }[] }>(dir, ['status']).datasets.find((d) => d.dataset === 'order_facts')!;
    const replaying = facts();
    expect(replaying.incomplete_at?.state).toBe('stale');
    expect(replaying.complete_through === null || replaying.complete_through < '2026-03-10').toBe(true);
    expect(cli(dir, ['run']).code).toBe(0);
    expect(facts()).toMatchObject({ complete_through: '2026-03-10', incomplete_at: null });
    expect(cli(dir, ['checkpoint', 'validate', 'order_facts']).code).toBe(0);
    const after = cliJson<{ checkpoint: { value: string }; data_max: string }>(dir, ['checkpoint', 'show', 'order_facts']);
    expect(after.checkpoint.value).toBe(after.data_max); // the replay brought the mark back to the data
  });
});
