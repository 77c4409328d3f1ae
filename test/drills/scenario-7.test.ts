/**
 * Drill of scenario 7 (reprocessing leaves no audit trail): an engineer "fixed" three days of revenue
 * with hand SQL on the warehouse, outside Tidemark, and an external audit is due. Replayed: the
 * compliance check a runbook would run (`audit verify --data`) finds exactly the partitions changed
 * outside Tidemark and says how to redo them; the fix is then redone through Tidemark (ingest of the
 * corrected files, backfill with --downstream) and every step of it is on the trail with actor, reason,
 * command and before/after per partition; the check then passes, anchored to an exported head.
 * No audit, no write: with the audit table made unwritable (renamed on DuckDB; a trigger refusing
 * inserts on PostgreSQL) every reprocessing path — ingest, backfill, restore, lock, unlock, gc,
 * consumers redeliver — is refused and changes nothing. A forced re-send to a consumer
 * (`consumers redeliver --run`) used to leave no record at all, although it overwrites what each
 * delivery was and makes the consumer act again: it is now on the trail, with who, why and each
 * delivery as it stood. A hand edit of the trail is caught, and
 * later writes do not hide it; a cut-off tail is caught against the exported head.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, test } from 'vitest';
import type { AuditRecord } from '../../src/audit/chain.js';
import { builtShop, cleanup, cli, cliJson, days, requireBuild, snapshotState, tempDir, testEngines, withWorkspace, writeOrdersFix } from '../helpers/project.js';

const SLOW = { timeout: 240_000 };
const FIX = days('2026-04-24', '2026-04-26');
const ONCALL = ['--actor', 'oncall-jane'];

interface VerifyJson {
  ok: boolean;
  chain: { ok: boolean; count: number; head: string; seq?: number; problem?: string };
  data?: { ok: boolean; mismatches: { dataset: string; partition: string; problem: string }[] };
}

describe.each(testEngines(inject('pgUrl')))('scenario 7 drill: a fix made outside Tidemark, redone with its audit trail ($kind)', SLOW, (engine) => {
  let dir: string;
  let out: string;
  const sql = (text: string) => withWorkspace(dir, (ws) => ws.engine.exec(text.replaceAll('{data}', ws.engine.dialect.quote(ws.engine.dataSchema)).replaceAll('{state}', ws.engine.dialect.quote(ws.engine.stateSchema))));
  const trail = () => cliJson<AuditRecord[]>(dir, ['audit', 'log']);
  const deliveries = () => withWorkspace(dir, (ws) => ws.engine.query(`SELECT * FROM ${ws.engine.dialect.table(ws.engine.stateSchema, 'deliveries')} ORDER BY event_id, consumer`));

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop('2026-03-20', '2026-04-30', { engine });
    // The finance export learns of every publish of daily_revenue through a ready marker.
    const file = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(file, 'utf8').replace('    sql: models/daily_revenue.sql\n', '    sql: models/daily_revenue.sql\n    consumers: [finance_export]\n');
    writeFileSync(file, `${yaml}\nconsumers:\n  finance_export: { kind: file, path: "ready/daily_revenue.json" }\n`);
    out = tempDir('tidemark-drill7-');
  }, 240_000);
  afterAll(() => {
    if (dir) cleanup(dir, path.dirname(dir));
    if (out) cleanup(out);
  });

  test('the compliance check finds the hand fix; redone through Tidemark, every step is on the trail', async () => {
    const before = trail();
    // The wrong approach: EUR revenue of three days corrected by hand, straight in the warehouse.
    await sql(`UPDATE {data}.daily_revenue SET revenue_usd_cents = CAST(round(revenue_usd_cents / 1.1) AS BIGINT) WHERE currency = 'EUR' AND day BETWEEN DATE '${FIX[0]}' AND DATE '${FIX[2]}'`);
    {
      expect(trail()).toEqual(before); // nothing on the trail

      // The runbook's compliance check: the chain alone cannot see it; --data names exactly the three days.
      expect(cli(dir, ['audit', 'verify']).code).toBe(0);
      const check = cli(dir, ['audit', 'verify', '--data']);
      expect(check.code).toBe(4);
      expect(check.stderr).toMatch(/^error: the live data differs from the audit trail: daily_revenue 2026-04-24 \(checksum \d+ recorded, \d+ live\)/m);
      const report = JSON.parse(cli(dir, ['audit', 'verify', '--data', '--json']).stdout) as VerifyJson;
      expect(report.data!.mismatches.map((m) => `${m.dataset}/${m.partition}/${m.problem}`)).toEqual(FIX.map((d) => `daily_revenue/${d}/checksum`));
      // The hint is the command to type: one backfill of the three days, with their dependents.
      expect(check.stderr).toMatch(/^hint: .*`tidemark backfill daily_revenue --from 2026-04-24 --to 2026-04-26 --reason "…"`/m);

      // Redone the right way: the corrected files (audited ingest), then the backfill the hint names.
      const ingest = cliJson<{ run_id: string }>(dir, ['ingest', 'orders', ...writeOrdersFix(dir, FIX), '--reason', 'INC-7 EUR amounts corrected upstream', ...ONCALL]);
      const backfill = cliJson<{ run_id: string; published: { dataset: string; partition: string; version_before: number; version_after: number }[] }>(dir, [
        'backfill', 'daily_revenue', '--from', FIX[0], '--to', FIX[2], '--downstream', '--reason', 'INC-7 redo the hand fix with its audit trail', '--yes', ...ONCALL,
      ]);
      const passed = cliJson<VerifyJson>(dir, ['audit', 'verify', '--data']);
      expect(passed.ok).toBe(true);

      // Every step on the trail: who, why, which command, each partition before and after.
      for (const [run, action, reason] of [
        [ingest.run_id, 'ingest', 'INC-7 EUR amounts corrected upstream'],
        [backfill.run_id, 'backfill', 'INC-7 redo the hand fix with its audit trail'],
      ]) {
        const records = cliJson<AuditRecord[]>(dir, ['audit', 'log', '--run', run]);
        expect(records.length).toBeGreaterThan(0);
        for (const r of records) {
          expect(r).toMatchObject({ action, actor: 'oncall-jane', reason, run_id: run });
          expect(r.command).toMatch(new RegExp(`^tidemark ${action} `));
        }
      }
      const sealed = cliJson<AuditRecord[]>(dir, ['audit', 'log', '--run', backfill.run_id]).flatMap((r) =>
        (r.details as { changed: { partition: string; version_before: number; version_after: number }[] }).changed.map((c) => `${r.dataset}/${c.partition} v${c.version_before}→v${c.version_after}`),
      );
      expect(sealed.sort()).toEqual(backfill.published.map((p) => `${p.dataset}/${p.partition} v${p.version_before}→v${p.version_after}`).sort());
      // The hand-altered rows are kept as evidence: the version they replaced is held in history.
      const lineage = cliJson<{ version: number; actor: string; reason: string; run_id: string }[]>(dir, ['audit', 'lineage', 'daily_revenue', '--partition', FIX[0]]);
      expect(lineage.map((l) => [l.version, l.actor === 'oncall-jane'])).toEqual([
        [1, false],
        [2, true],
      ]);

      // The finance export is sent the corrected run again: who re-sent it and why is on the trail too,
      // with each delivery as it stood before (the re-send overwrites its state).
      const resend = cliJson<{ requeued: number }>(dir, ['consumers', 'redeliver', '--run', backfill.run_id, '--reason', 'INC-7 finance re-exports the corrected days', ...ONCALL]);
      expect(resend.requeued).toBeGreaterThan(0);
      const [redelivered] = trail().slice(-1);
      expect(redelivered).toMatchObject({ action: 'consumers.redeliver', actor: 'oncall-jane', reason: 'INC-7 finance re-exports the corrected days', run_id: backfill.run_id });
      const requeued = (redelivered.details as { requeued: { consumer: string; status: string; delivered_at: string | null }[] }).requeued;
      expect(requeued).toHaveLength(resend.requeued);
      expect(requeued.every((d) => d.consumer === 'finance_export' && d.status === 'delivered' && d.delivered_at !== null)).toBe(true);

      // Version 1 of a hand-edited day is not restorable: its rows in history are the edited ones,
      // kept as evidence. Refused, saying why and what brings the partition back.
      const restore = cli(dir, ['restore', 'daily_revenue', '--version', '1', '--from', FIX[0], '--to', FIX[0], '--reason', 'back to v1', '--yes']);
      expect(restore.code).toBe(1);
      expect(restore.stderr).toMatch(/^error: daily_revenue 2026-04-24: version 1 cannot be restored as it was published: its retained rows differ from it .* changed outside Tidemark/m);
      expect(restore.stderr).toContain('hint: rebuild the partition instead: `tidemark backfill daily_revenue --from 2026-04-24 --to 2026-04-24 --reason "…"`, or restore another version');

      // Signed off: the head exported outside, and the check passes against it.
      const exported = path.join(out, 'audit.jsonl');
      expect(cli(dir, ['audit', 'export', '--format', 'jsonl', '--output', exported]).code).toBe(0);
      const head = (JSON.parse(readFileSync(exported, 'utf8').trimEnd().split('\n').at(-1)!) as { head: string }).head;
      expect(cli(dir, ['audit', 'verify', '--data', '--head', head]).code).toBe(0);
      writeFileSync(path.join(out, 'head'), head);
    }
  });

  test('no audit, no write: with the audit table unwritable, every reprocessing path is refused and changes nothing', async () => {
    expect(cli(dir, ['lock', 'daily_revenue', '--from', '2026-03-20', '--to', '2026-03-25', '--reason', 'Q1 closed']).code).toBe(0);
    const yaml = readFileSync(path.join(dir, 'tidemark.yaml'), 'utf8');
    const [late] = writeOrdersFix(dir, ['2026-04-10']);
    const resent = trail().filter((r) => r.action === 'consumers.redeliver').at(-1)!.run_id!;
    const before = await snapshotState(dir);
    const deliveriesBefore = await deliveries();
    const block =
      engine.kind === 'duckdb'
        ? ['ALTER TABLE {state}.audit RENAME TO audit_offline']
        : [
            "CREATE FUNCTION {state}.refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'the audit store is read-only'; END $$",
            'CREATE TRIGGER refuse_audit BEFORE INSERT ON {state}.audit FOR EACH ROW EXECUTE FUNCTION {state}.refuse_audit()',
          ];
    const unblock = engine.kind === 'duckdb' ? ['ALTER TABLE {state}.audit_offline RENAME TO audit'] : ['DROP TRIGGER refuse_audit ON {state}.audit', 'DROP FUNCTION {state}.refuse_audit()'];
    const refusals: Record<string, { code: number | null; stderr: string }> = {};
    for (const s of block) await sql(s);
    try {
      const paths: string[][] = [
        ['ingest', 'orders', late, '--reason', 'late fix'],
        ['backfill', 'daily_revenue', '--from', FIX[0], '--to', FIX[2], '--downstream', '--reason', 'rebuild', '--yes'],
        ['restore', 'revenue_7d', '--version', '1', '--from', FIX[0], '--to', FIX[0], '--reason', 'undo', '--yes'],
        ['lock', 'daily_revenue', '--from', '2026-04-01', '--to', '2026-04-05', '--reason', 'freeze'],
        ['unlock', 'daily_revenue', '--from', '2026-03-20', '--to', '2026-03-25', '--reason', 'reopen'],
        ['consumers', 'redeliver', '--run', resent, '--reason', 'resend'],
      ];
      for (const args of paths) refusals[args[0] === 'consumers' ? 'consumers redeliver' : args[0]] = cli(dir, args);
      // gc with something to remove: every replaced version expires.
      writeFileSync(path.join(dir, 'tidemark.yaml'), `${yaml}\nretention: { versions: 0, days: 0 }\n`);
      refusals.gc = cli(dir, ['gc', '--reason', 'free space']);
    } finally {
      writeFileSync(path.join(dir, 'tidemark.yaml'), yaml);
      for (const s of unblock) await sql(s);
    }
    for (const [command, r] of Object.entries(refusals)) {
      expect(r.code, `${command}: ${r.stderr}`).toBe(1);
      const [error, hint] = r.stderr.split('\n').filter((l) => /^(error|hint):/.test(l));
      expect(error, command).toMatch(
        engine.kind === 'duckdb'
          ? /^error: the state store is damaged: the state table tidemark\.audit is missing/
          : /^error: the audit record could not be written, so nothing was changed \(no audit, no write\): the audit store is read-only$/,
      );
      expect(hint, `${command} says what to do`).toMatch(engine.kind === 'duckdb' ? /^hint: rename the table back/ : /^hint: the state table \S+\.audit refuses Tidemark's insert .*then re-issue the command/);
    }
    expect(await snapshotState(dir)).toEqual(before);
    expect(await deliveries()).toEqual(deliveriesBefore);

    // Once the trail can be written again, the same command goes through, with its record.
    const ingest = cliJson<{ run_id: string }>(dir, ['ingest', 'orders', late, '--reason', 'late fix']);
    expect(cliJson<AuditRecord[]>(dir, ['audit', 'log', '--run', ingest.run_id]).map((r) => r.action)).toEqual(['ingest']);
    expect(cli(dir, ['audit', 'verify']).code).toBe(0);
  });

  test('a hand edit of the trail is caught, and later writes do not hide it; a cut-off tail is caught against the exported head', async () => {
    const head = readFileSync(path.join(out, 'head'), 'utf8');
    const records = trail();
    const target = records.find((r) => r.action === 'backfill' && r.reason.startsWith('INC-7'))!;
    // "Manually editing audit tables": the backfill's reason rewritten.
    await sql(`UPDATE {state}.audit SET reason = 'routine maintenance' WHERE seq = ${target.seq}`);
    const altered = cli(dir, ['audit', 'verify']);
    expect(altered.code).toBe(4);
    expect(altered.stderr).toMatch(new RegExp(`^error: .*record ${target.seq}\\b.*altered`, 'm'));
    // A later write chains onto the trail as it is: it does not make the edit disappear.
    expect(cli(dir, ['lock', 'daily_revenue', '--from', '2026-04-01', '--to', '2026-04-02', '--reason', 'month-end']).code).toBe(0);
    expect(cli(dir, ['audit', 'verify']).stderr).toMatch(new RegExp(`^error: .*record ${target.seq}\\b.*altered`, 'm'));
    await sql(`UPDATE {state}.audit SET reason = '${target.reason}' WHERE seq = ${target.seq}`);
    expect(cli(dir, ['audit', 'verify']).code).toBe(0);

    // The tail cut off from the exported head on, then a new write in its place: the chain alone
    // verifies, but not against the head exported at sign-off.
    const anchored = records.find((r) => r.hash === head)!;
    await sql(`DELETE FROM {state}.audit WHERE seq >= ${anchored.seq}`);
    expect(cli(dir, ['unlock', 'daily_revenue', '--from', '2026-04-01', '--to', '2026-04-02', '--reason', 'month-end done']).code).toBe(0);
    expect(cli(dir, ['audit', 'verify']).code).toBe(0);
    const cut = cli(dir, ['audit', 'verify', '--head', head]);
    expect(cut.code).toBe(4);
    expect(cut.stderr).toMatch(/^error: .*truncated/m);
  });
});
