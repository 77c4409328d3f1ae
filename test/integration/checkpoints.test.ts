// Failure mode 9: reprocessing history must not break incremental pipelines.
//
// An incremental model (order_facts, cursor order_id, one row per order) and an external consumer of its
// change feed both go through late data for an old day, a run, a corrected re-delivery of old days and a
// backfill. Both must end equal to a from-scratch computation over the current upstream, with no
// duplicates, no gaps and no full refresh, while a naive "append rows past my cursor" consumer (the
// failure this guards against) visibly diverges. Then the checkpoint is corrupted behind Tidemark's back:
// `checkpoint validate` must report it (exit 4) and `checkpoint reset` must repair it (dry run first,
// audited, replayed by the next run as replacements).
//
// Real CLI subprocesses (dist/: `npm run build` first) on a real DuckDB project in a temp folder.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain } from '../../src/audit/chain.js';
import { generateOrdersCsv } from '../../src/example/shop.js';
import { readAudit } from '../../src/state/audit.js';
import { stateTable } from '../../src/state/tables.js';
import { cleanup, cli, cliJson, days, requireBuild, scaffoldShop, snapshotState, withWorkspace, type CliResult } from '../helpers/project.js';

const FIRST = '2026-01-01';
const LAST = '2026-01-20';
const LATE_DAY = '2026-01-06';
const FIXED = ['2026-01-02', '2026-01-03', '2026-01-04'];

const ORDER_FACTS_SQL = `
SELECT o.order_id, o.order_date, o.customer_id, o.currency, o.status, o.amount_cents,
  CAST(round(o.amount_cents * f.usd_per_unit) AS BIGINT) AS amount_usd_cents
FROM {{ ref('orders') }} AS o
JOIN {{ ref('fx_rates') }} AS f ON f.rate_date = o.order_date AND f.currency = o.currency
WHERE o.order_date >= {{ start }} AND o.order_date < {{ end }}`;

/** The same facts computed in one go over everything upstream holds now: what order_facts must equal. */
const FROM_SCRATCH = `
SELECT o.order_id, o.order_date, o.customer_id, o.currency, o.status, o.amount_cents,
  CAST(round(o.amount_cents * f.usd_per_unit) AS BIGINT) AS amount_usd_cents
FROM orders AS o JOIN fx_rates AS f ON f.rate_date = o.order_date AND f.currency = o.currency
ORDER BY o.order_id`;

/**
 * Shows what {{ checkpoint }} renders as at compute time: the model's own mark (cursor last_order_id)
 * as a typed literal, NULL before the first publish. `past_mark` is what a "> checkpoint" filter would
 * have kept of the window.
 */
const PROBE_SQL = `
SELECT o.order_date AS day, max(o.order_id) AS last_order_id, count(*) AS orders,
  count(*) FILTER (WHERE o.order_id > {{ checkpoint }}) AS past_mark,
  CAST({{ checkpoint }} AS VARCHAR) AS mark
FROM {{ ref('orders') }} AS o
WHERE o.order_date >= {{ start }} AND o.order_date < {{ end }}
GROUP BY o.order_date`;

const MODELS_YAML = `
  order_facts:
    kind: model
    sql: models/order_facts.sql
    partition: { column: order_date, grain: day }
    key: [order_id]
    incremental: { cursor: order_id }

  checkpoint_probe:
    kind: model
    sql: models/checkpoint_probe.sql
    partition: { column: day, grain: day }
    key: [day]
    incremental: { cursor: last_order_id }
`;

type Row = Record<string, unknown>;

interface Change {
  partition: string;
}
interface Feed {
  head_seq: number;
  partition_column: string;
  changes: Change[];
}
interface RunJson {
  run_id: string;
  status: string;
  published: { dataset: string; partition: string; version_before: number | null; version_after: number }[];
}
interface Finding {
  code: string;
  severity: 'problem' | 'pending';
  partitions: string[];
  rows?: number;
}
interface Validation {
  ok: boolean;
  data_max: string | null;
  checkpoint: { value: string | null; publish_seq: number; cursor_column: string } | null;
  findings: Finding[];
}
interface ResetEffect {
  from: string | null;
  to: string;
  data_max: string;
  replay: { partition: string; rows: number }[];
  rows_beyond: number;
  applied: boolean;
  audit_seq?: number;
}

function describeRun(args: string[], r: CliResult): string {
  return `tidemark ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr}`;
}

/** The docs/change-feed.md consumer: a cursor on publish_seq and partition replacement, never append. */
class FeedConsumer {
  cursor = 0;
  readonly copy = new Map<string, Row[]>();
  constructor(private readonly dir: string) {}

  sync(): void {
    const feed = cliJson<Feed>(this.dir, ['changes', 'order_facts', '--since', String(this.cursor)]);
    const partitions = [...new Set(feed.changes.map((c) => c.partition))];
    if (partitions.length) {
      const rows = cliJson<Row[]>(this.dir, ['query', `SELECT * FROM order_facts WHERE order_date IN (${partitions.map((p) => `DATE '${p}'`).join(', ')}) ORDER BY order_id`]);
      for (const p of partitions) {
        const mine = rows.filter((r) => String(r[feed.partition_column]) === p);
        if (mine.length) this.copy.set(p, mine);
        else this.copy.delete(p);
      }
    }
    this.cursor = feed.head_seq;
  }

  rows(): Row[] {
    return [...this.copy.values()].flat().sort((a, b) => Number(a.order_id) - Number(b.order_id));
  }
}

/** The failure mode itself: "append every row whose cursor is past my high-water mark". */
class NaiveAppendConsumer {
  mark = -1;
  readonly copy: Row[] = [];
  constructor(private readonly dir: string) {}

  sync(): void {
    const rows = cliJson<Row[]>(this.dir, ['query', `SELECT * FROM order_facts WHERE order_id > ${this.mark} ORDER BY order_id`]);
    this.copy.push(...rows);
    if (rows.length) this.mark = Number(rows[rows.length - 1].order_id);
  }
}

describe('incremental checkpoints survive reprocessing history', () => {
  let dir: string;
  let feed: FeedConsumer;
  let naive: NaiveAppendConsumer;

  const orderFiles = (ds: string[]) => ds.map((d) => path.join('data', 'orders', `orders-${d}.csv`));
  const liveFacts = () => cliJson<Row[]>(dir, ['query', 'SELECT * FROM order_facts ORDER BY order_id']);
  const scratch = () => cliJson<Row[]>(dir, ['query', FROM_SCRATCH]);
  const validate = () => {
    const r = cli(dir, ['checkpoint', 'validate', 'order_facts', '--json']);
    return { code: r.code, report: JSON.parse(r.stdout) as Validation, stderr: r.stderr };
  };
  const maxOrderId = (where = 'TRUE') => Number(cliJson<{ m: number }[]>(dir, ['query', `SELECT max(order_id) AS m FROM orders WHERE ${where}`])[0].m);
  const publishedOf = (run: RunJson, dataset: string) => run.published.filter((p) => p.dataset === dataset).map((p) => p.partition).sort();
  const sync = () => {
    feed.sync();
    naive.sync();
  };

  beforeAll(async () => {
    requireBuild();
    dir = await scaffoldShop(FIRST, LAST);
    writeFileSync(path.join(dir, 'tidemark.yaml'), `${readFileSync(path.join(dir, 'tidemark.yaml'), 'utf8')}${MODELS_YAML}`);
    writeFileSync(path.join(dir, 'models', 'order_facts.sql'), ORDER_FACTS_SQL);
    writeFileSync(path.join(dir, 'models', 'checkpoint_probe.sql'), PROBE_SQL);
    feed = new FeedConsumer(dir);
    naive = new NaiveAppendConsumer(dir);
  });
  afterAll(() => cleanup(path.dirname(dir)));

  it('first builds: the checkpoint is the high-water mark of the published data, committed with it', () => {
    cliJson(dir, ['ingest', 'fx_rates', ...days(FIRST, LAST).map((d) => path.join('data', 'fx_rates', `fx-${d}.csv`))]);
    cliJson(dir, ['ingest', 'orders', ...orderFiles(days(FIRST, '2026-01-14'))]);
    const first = cliJson<RunJson>(dir, ['run']);
    expect(publishedOf(first, 'order_facts')).toEqual(days(FIRST, '2026-01-14'));
    let v = validate();
    expect(v.code, v.stderr).toBe(0);
    expect(v.report.checkpoint!.value).toBe(String(maxOrderId()));
    sync();

    cliJson(dir, ['ingest', 'orders', ...orderFiles(days('2026-01-15', LAST))]);
    const second = cliJson<RunJson>(dir, ['run']);
    expect(publishedOf(second, 'order_facts')).toEqual(days('2026-01-15', LAST));
    v = validate();
    expect(v.code, v.stderr).toBe(0);
    expect(v.report.findings).toEqual([]);
    expect(v.report.checkpoint!.value).toBe(String(maxOrderId()));
    // The mark and the data it describes were committed by the same publish.
    const facts = cliJson<{ publish_seq: number }[]>(dir, ['query', `SELECT max(publish_seq) AS publish_seq FROM tidemark.partitions WHERE dataset = 'order_facts'`]);
    expect(v.report.checkpoint!.publish_seq).toBe(Number(facts[0].publish_seq));
    sync();
    expect(liveFacts()).toEqual(scratch());
    expect(feed.rows()).toEqual(scratch());
    expect(naive.copy).toEqual(scratch()); // appending is fine while history never changes

    // {{ checkpoint }}: NULL before the first publish, then the mark as a BIGINT literal.
    const probe = cliJson<Row[]>(dir, ['query', 'SELECT CAST(day AS VARCHAR) AS day, orders, past_mark, mark FROM checkpoint_probe ORDER BY day']);
    const markAfterFirst = String(maxOrderId(`order_date <= DATE '2026-01-14'`));
    for (const r of probe) {
      if (String(r.day) <= '2026-01-14') expect([r.mark, Number(r.past_mark)]).toEqual([null, 0]);
      else expect([r.mark, Number(r.past_mark)]).toEqual([markAfterFirst, Number(r.orders)]);
    }
  });

  it('late data for an old day, then a backfill of corrected history: replaced, not appended; equal to from-scratch', () => {
    const markBefore = validate().report.checkpoint!.value;
    const seqsBefore = cliJson<{ partition: string; version: number }[]>(dir, ['partitions', 'order_facts']);

    // 50 late orders for an old day. Their ids are below the mark: a "> checkpoint" reader never sees them.
    const dayNum = Date.parse(`${LATE_DAY}T00:00:00Z`) / 86_400_000;
    const late = ['order_id,customer_id,amount_cents,currency,status,order_date'];
    for (let n = 0; n < 50; n++) late.push(`${dayNum * 100_000 + 90_001 + n},${900 + n},${1_500 + n * 41},${['USD', 'EUR', 'GBP'][n % 3]},paid,${LATE_DAY}`);
    writeFileSync(path.join(dir, 'data', 'orders', `late-${LATE_DAY}.csv`), `${late.join('\n')}\n`);
    cliJson(dir, ['ingest', 'orders', path.join('data', 'orders', `late-${LATE_DAY}.csv`)]);
    const lateRun = cliJson<RunJson>(dir, ['run']);
    expect(publishedOf(lateRun, 'order_facts')).toEqual([LATE_DAY]);
    // The late rows sit below the mark: the restatement replaced a partition and the mark did not move.
    let v = validate();
    expect(v.code, v.stderr).toBe(0);
    expect(v.report.checkpoint!.value).toBe(markBefore);
    // The probe's late window was computed with the mark of day 20: a "> {{ checkpoint }}" filter keeps none of it.
    const probeLate = cliJson<Row[]>(dir, ['query', `SELECT orders, past_mark, mark FROM checkpoint_probe WHERE day = DATE '${LATE_DAY}'`])[0];
    expect([Number(probeLate.past_mark), probeLate.mark]).toEqual([0, String(maxOrderId())]);
    sync();

    // The upstream re-delivers three old days with corrected EUR amounts; a backfill restates them.
    for (const d of FIXED) writeFileSync(path.join(dir, 'data', 'orders', `orders-${d}.csv`), generateOrdersCsv(d, { fix: true }));
    cliJson(dir, ['ingest', 'orders', ...orderFiles(FIXED)]);
    const backfill = cliJson<RunJson>(dir, ['backfill', 'order_facts', '--from', FIXED[0], '--to', FIXED[2], '--reason', 'EUR amounts corrected upstream', '--yes']);
    expect(backfill.status).toBe('published');
    expect(publishedOf(backfill, 'order_facts')).toEqual(FIXED);
    sync();

    // No full refresh: exactly the late day and the fixed days have new versions, every other is still v1.
    const after = cliJson<{ partition: string; version: number }[]>(dir, ['partitions', 'order_facts']);
    expect(after.map((p) => p.partition)).toEqual(seqsBefore.map((p) => p.partition));
    expect(after.filter((p) => p.version !== 1).map((p) => p.partition).sort()).toEqual([...FIXED, LATE_DAY].sort());

    // The incremental model and the feed consumer equal the from-scratch computation: no duplicates, no gaps.
    const expected = scratch();
    expect(expected.filter((r) => String(r.order_date) === LATE_DAY).length).toBeGreaterThan(50);
    expect(liveFacts()).toEqual(expected);
    expect(feed.rows()).toEqual(expected);
    expect(new Set(liveFacts().map((r) => r.order_id)).size).toBe(expected.length);
    // The naive appender, by contrast, missed the late orders (a gap) and kept the uncorrected amounts.
    const naiveIds = new Set(naive.copy.map((r) => Number(r.order_id)));
    expect(naiveIds.has(dayNum * 100_000 + 90_001)).toBe(false);
    expect(naive.copy).not.toEqual(expected);

    v = validate();
    expect(v.code, v.stderr).toBe(0);
    expect(v.report.ok).toBe(true);
    expect(v.report.findings).toEqual([]);
    expect(v.report.checkpoint!.value).toBe(String(maxOrderId()));
    // Settle the other models; order_facts is already current, so nothing of it is republished.
    expect(publishedOf(cliJson<RunJson>(dir, ['run']), 'order_facts')).toEqual([]);
  });

  it('a corrupted checkpoint is reported by validate and repaired by reset: dry run, audited, replayed as replacements', async () => {
    const max = maxOrderId();
    const corrupt = (value: string) =>
      withWorkspace(dir, (ws) => ws.engine.exec(`UPDATE ${stateTable(ws.engine, 'checkpoints')} SET value = $1 WHERE dataset = 'order_facts'`, [value]));

    // Behind: rows past the mark in partitions nothing will replay (a gap for anyone trusting the mark).
    const behind = String(maxOrderId(`order_date <= DATE '2026-01-16'`));
    await corrupt(behind);
    let v = validate();
    expect(v.code, v.stderr).toBe(4);
    expect(v.stderr).toMatch(/^error: checkpoint of order_facts disagrees with its data: behind/m);
    expect(v.report.findings.map((f) => [f.code, f.severity, f.partitions])).toEqual([['behind', 'problem', days('2026-01-17', LAST)]]);

    // Ahead: the mark claims rows that do not exist.
    await corrupt(String(max + 5_000_000));
    v = validate();
    expect(v.code, v.stderr).toBe(4);
    expect(v.report.findings.map((f) => f.code)).toEqual(['ahead']);
    expect(cli(dir, ['checkpoint', 'show', 'order_facts']).stdout).toContain(`checkpoint: ${max + 5_000_000}`);

    // A reset above the data is refused: it would recreate the problem.
    const refused = cli(dir, ['checkpoint', 'reset', 'order_facts', '--to', String(max + 1), '--reason', 'x', '--yes']);
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/beyond the data/);

    // Dry run: describes the replay (partitions holding rows beyond the new mark) and writes nothing.
    const to = String(maxOrderId(`order_date <= DATE '2026-01-17'`));
    const replayDays = days('2026-01-18', LAST);
    const rowsPerDay = cliJson<{ d: string; n: number }[]>(dir, ['query', `SELECT CAST(order_date AS VARCHAR) AS d, count(*) AS n FROM order_facts WHERE order_date > DATE '2026-01-17' GROUP BY 1 ORDER BY 1`]);
    const state = await snapshotState(dir);
    const dryArgs = ['checkpoint', 'reset', 'order_facts', '--to', to, '--reason', 'mark corrupted by a manual UPDATE', '--dry-run', '--json'];
    const dry = cli(dir, dryArgs);
    expect(dry.code, describeRun(dryArgs, dry)).toBe(0);
    const effect = JSON.parse(dry.stdout) as ResetEffect;
    expect(effect).toMatchObject({ from: String(max + 5_000_000), to, data_max: String(max), applied: false });
    expect(effect.replay).toEqual(rowsPerDay.map((r) => ({ partition: r.d, rows: Number(r.n) })));
    expect(effect.replay.map((r) => r.partition)).toEqual(replayDays);
    expect(await snapshotState(dir)).toEqual(state);
    // Without --yes and without a terminal, nothing is applied either.
    expect(cli(dir, ['checkpoint', 'reset', 'order_facts', '--to', to, '--reason', 'x']).code).toBe(3);
    expect(await snapshotState(dir)).toEqual(state);

    // Apply: checkpoint, replay marks and the audit record in one transaction.
    const auditBefore = await withWorkspace(dir, (ws) => readAudit(ws.engine, ws.engine));
    const applyArgs = ['checkpoint', 'reset', 'order_facts', '--to', to, '--reason', 'mark corrupted by a manual UPDATE', '--yes', '--json'];
    const applied = cli(dir, applyArgs);
    expect(applied.code, describeRun(applyArgs, applied)).toBe(0);
    const result = JSON.parse(applied.stdout) as ResetEffect;
    expect(result).toMatchObject({ to, applied: true, replay: effect.replay });
    const audit = await withWorkspace(dir, (ws) => readAudit(ws.engine, ws.engine));
    expect(verifyAuditChain(audit).ok).toBe(true);
    const added = audit.slice(auditBefore.length);
    expect(added).toHaveLength(1);
    expect(added[0]).toMatchObject({
      seq: result.audit_seq,
      action: 'checkpoint_reset',
      dataset: 'order_facts',
      partitions: replayDays,
      reason: 'mark corrupted by a manual UPDATE',
      actor: 'test',
      run_id: null,
      details: { cursor_column: 'order_id', from: String(max + 5_000_000), to, data_max: String(max), replay: effect.replay },
    });
    expect(added[0].command.startsWith('tidemark checkpoint reset order_facts')).toBe(true);

    // partitions, status and ready say why they are stale: the reset asked for their replay (their
    // cleared fingerprint is not "orders … appeared", which is what a diff of the inputs would say).
    const replayWhy = 'replay requested by `checkpoint reset`';
    const staleRows = cliJson<{ partition: string; state: string; stale_reasons?: string[] }[]>(dir, ['partitions', 'order_facts']).filter((p) => p.state === 'stale');
    expect(staleRows.map((p) => [p.partition, p.stale_reasons])).toEqual(replayDays.map((d) => [d, [replayWhy]]));
    expect(cli(dir, ['status']).stdout).toContain(`order_facts: complete through 2026-01-17; 2026-01-18 is stale: ${replayWhy}`);
    const notReady = cli(dir, ['ready', 'order_facts', '--partition', LAST]);
    expect(notReady.code).toBe(3);
    expect(notReady.stderr).toContain(`order_facts ${LAST} is stale: ${replayWhy}`);

    // Validate is clean: the rows beyond the new mark are in partitions the next run replays (pending).
    v = validate();
    expect(v.code, v.stderr).toBe(0);
    expect(v.report.checkpoint!.value).toBe(to);
    expect(v.report.findings.map((f) => [f.code, f.severity, f.partitions])).toEqual([
      ['stale_partitions', 'pending', replayDays],
      ['replay_pending', 'pending', replayDays],
    ]);

    // The next run replays exactly those partitions (recomputed, compared, replaced) and re-derives the mark.
    const versions = () => cliJson<{ partition: string; version: number }[]>(dir, ['partitions', 'order_facts']).map((p) => `${p.partition} v${p.version}`);
    const versionsBefore = versions();
    const run = cliJson<RunJson>(dir, ['run']);
    const tasks = await withWorkspace(dir, (ws) =>
      ws.engine.query<{ dataset: string; partition: string; status: string }>(`SELECT dataset, partition, status FROM ${stateTable(ws.engine, 'tasks')} WHERE run_id = $1 ORDER BY dataset, partition`, [run.run_id]),
    );
    expect(tasks.map((t) => `${t.dataset}/${t.partition}`)).toEqual(replayDays.map((d) => `order_facts/${d}`));
    // The data was right, so the replay reproduced it: no new versions, nothing duplicated.
    expect(tasks.every((t) => t.status === 'unchanged')).toBe(true);
    expect(versions()).toEqual(versionsBefore);
    v = validate();
    expect(v.code, v.stderr).toBe(0);
    expect(v.report.findings).toEqual([]);
    expect(v.report.checkpoint!.value).toBe(String(max));
    expect(liveFacts()).toEqual(scratch());
  });

  it('a replay the next run cannot do (a locked partition) is not promised by validate', () => {
    const lockArgs = ['lock', 'order_facts', '--from', LAST, '--to', LAST, '--reason', 'held for an audit'];
    expect(cli(dir, lockArgs).code).toBe(0);
    const to = String(maxOrderId(`order_date < DATE '${LAST}'`));
    const reset = cli(dir, ['checkpoint', 'reset', 'order_facts', '--to', to, '--reason', 'replay the last day', '--yes']);
    expect(reset.code, reset.stderr).toBe(0);
    expect(reset.stdout).toContain(`Frozen or locked, so a routine run leaves them alone (backfill them explicitly): ${LAST}`);
    const run = cli(dir, ['run']);
    expect(run.stdout).toMatch(/SKIPPED_PROTECTED/);

    const v = validate();
    expect(v.code, v.stderr).toBe(0);
    const stale = v.report.findings.find((f) => f.code === 'stale_partitions') as Finding & { message: string; reasons: Record<string, string[]> };
    expect(stale.partitions).toEqual([LAST]);
    expect(stale.reasons).toEqual({ [LAST]: ['replay requested by `checkpoint reset`'] });
    expect(stale.message).toContain(`except ${LAST} (frozen or locked: a routine run leaves them alone; backfill them explicitly)`);

    // Unlocked, the next run replays it and the checkpoint is clean again.
    expect(cli(dir, ['unlock', 'order_facts', '--from', LAST, '--to', LAST, '--reason', 'audit done']).code).toBe(0);
    expect(cli(dir, ['run']).code).toBe(0);
    expect(validate().report.findings).toEqual([]);
  });

  it('refuses what has no meaning: a source, a plain model, a value of the wrong type, a reset without --to', async () => {
    // A source says plainly that it is not an incremental model, then how sources are loaded.
    const source = cli(dir, ['checkpoint', 'reset', 'orders', '--to', '5', '--reason', 'x', '--dry-run']);
    expect(source.code).toBe(2);
    expect(source.stderr).toMatch(/^error: orders is a source, not an incremental model: it has no checkpoint \(checkpoints exist only for models with incremental:\)$/m);
    expect(source.stderr).toMatch(/^hint: a source is loaded with `tidemark ingest orders FILE…`/m);
    const plain = cli(dir, ['checkpoint', 'validate', 'daily_revenue']);
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/not an incremental model/);
    const badType = cli(dir, ['checkpoint', 'reset', 'order_facts', '--to', 'yesterday', '--reason', 'x', '--dry-run']);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toMatch(/not a value of order_facts\.order_id \(BIGINT\)/);
    // A fraction is not rounded into the integer cursor (DuckDB would cast '….5' to the next id), with or without --dry-run.
    const state = await snapshotState(dir);
    const max = maxOrderId();
    for (const flag of ['--dry-run', '--yes']) {
      const fraction = cli(dir, ['checkpoint', 'reset', 'order_facts', '--to', `${max - 10}.5`, '--reason', 'x', flag]);
      expect(fraction.code, fraction.stdout).toBe(2);
      expect(fraction.stderr).toMatch(new RegExp(`^error: --to '${max - 10}\\.5' is not a value of order_facts\\.order_id \\(BIGINT\\): a whole number is expected`, 'm'));
    }
    expect(await snapshotState(dir)).toEqual(state);
    const whole = cliJson<ResetEffect>(dir, ['checkpoint', 'reset', 'order_facts', '--to', `${max - 10}.0`, '--reason', 'x', '--dry-run']);
    expect(whole.to).toBe(String(max - 10));
    const noTo = cli(dir, ['checkpoint', 'reset', 'order_facts', '--reason', 'x', '--dry-run']);
    expect(noTo.code).toBe(2);
    expect(noTo.stderr).toMatch(/--to/);
  });
});
