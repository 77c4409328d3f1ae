/**
 * Tampering with the audit table by direct SQL — through a DuckDB connection of our own on the
 * project's file, after the CLI has exited — is detected by `tidemark audit verify`: exit 4 and
 * `error: audit chain broken at record N: …` naming the first bad sequence number.
 */
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashAuditRecord, type AuditRecord } from '../../src/audit/chain.js';
import { readAudit } from '../../src/state/audit.js';
import { builtShop, cleanup, cli, cliJson, copyProject, REDUCED_FROM, requireBuild, withWorkspace } from '../helpers/project.js';

const AUDIT = 'tidemark.audit';

/** Runs SQL on the project's DuckDB file directly, outside Tidemark. */
async function tamper(dir: string, ...statements: string[]): Promise<void> {
  const instance = await DuckDBInstance.create(path.join(dir, '.tidemark', 'warehouse.duckdb'));
  const connection = await instance.connect();
  try {
    for (const sql of statements) await connection.run(sql);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

function expectBroken(dir: string, args: string[], seq: number, problem: RegExp): void {
  const r = cli(dir, ['audit', 'verify', ...args]);
  expect(r.code, r.stderr).toBe(4);
  const first = r.stderr.split('\n')[0];
  expect(first.startsWith(`error: audit chain broken at record ${seq}: `), first).toBe(true);
  expect(first).toMatch(problem);
}

describe('audit verify detects tampering by direct SQL', () => {
  let built: string;
  const copies: string[] = [];
  let head: string;
  let count: number;

  /** A fresh copy of the built project for one tampering. */
  function project(): string {
    const dir = copyProject(built);
    copies.push(path.dirname(dir));
    return dir;
  }

  beforeAll(async () => {
    requireBuild();
    built = await builtShop();
    const verdict = cliJson<{ ok: boolean; count: number; head: string }>(built, ['audit', 'verify']);
    expect(verdict.ok).toBe(true);
    ({ head, count } = verdict);
    expect(count).toBe(5); // ingest orders, ingest fx_rates, run × 3 models
  });
  afterAll(() => cleanup(path.dirname(built), ...copies));

  it('an intact chain verifies: exit 0 with the count and the head', () => {
    const r = cli(built, ['audit', 'verify']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`${count} record(s)`);
    expect(r.stdout).toContain(head);
    // The head exported now still verifies after more records are appended.
    expect(cli(built, ['audit', 'verify', '--head', head]).code).toBe(0);
  });

  it('records with any text verify: quotes, backslashes, control characters, non-ASCII', () => {
    const dir = project();
    const reason = 'rebuild "EUR" rows\\fix\tq1\nÜñïçødé € 😂';
    const lock = cli(dir, ['lock', 'daily_revenue', '--from', REDUCED_FROM, '--to', REDUCED_FROM, '--reason', reason]);
    expect(lock.code, lock.stderr).toBe(0);
    const verdict = cliJson<{ ok: boolean; count: number }>(dir, ['audit', 'verify']);
    expect(verdict).toMatchObject({ ok: true, count: count + 1 });
    const log = cliJson<{ action: string; reason: string }[]>(dir, ['audit', 'log']);
    expect(log.find((r) => r.action === 'lock')?.reason).toBe(reason);
  });

  it('an altered field is reported as altered at its record', async () => {
    const dir = project();
    await tamper(dir, `UPDATE ${AUDIT} SET reason = 'routine maintenance' WHERE seq = 3`);
    expectBroken(dir, [], 3, /altered/);
  });

  it('an altered partition list or checksum in the details is reported too', async () => {
    const dir = project();
    await tamper(dir, `UPDATE ${AUDIT} SET details = replace(details, '"version_after":1', '"version_after":7') WHERE seq = 4`);
    expectBroken(dir, [], 4, /altered/);
  });

  it('a record altered and re-hashed breaks the link from the next record', async () => {
    const dir = project();
    const records = await withWorkspace(dir, (ws) => readAudit(ws.engine, ws.engine));
    const forged: AuditRecord = { ...records[1], actor: 'mallory' };
    const hash = hashAuditRecord(forged);
    await tamper(dir, `UPDATE ${AUDIT} SET actor = 'mallory', hash = '${hash}' WHERE seq = 2`);
    expectBroken(dir, [], 3, /broken/);
  });

  it('a deleted record is reported as missing with its sequence number', async () => {
    const dir = project();
    await tamper(dir, `DELETE FROM ${AUDIT} WHERE seq = 2`);
    expectBroken(dir, [], 2, /record 2 is missing/);
  });

  it('two records whose seq were swapped are reported as reordered', async () => {
    const dir = project();
    await tamper(dir, `UPDATE ${AUDIT} SET seq = CASE seq WHEN 3 THEN 4 ELSE 3 END WHERE seq IN (3, 4)`);
    expectBroken(dir, [], 3, /out of order/);
  });

  it('a truncated tail verifies on its own but not against the exported head', async () => {
    const dir = project();
    await tamper(dir, `DELETE FROM ${AUDIT} WHERE seq >= 4`);
    // A plain chain cannot see its own tail cut off…
    expect(cli(dir, ['audit', 'verify']).code).toBe(0);
    // …the head anchored before can: the first missing record is 4.
    expectBroken(dir, ['--head', head], 4, /truncated/);
  });

  it('an emptied audit table is truncated at record 1 against the head', async () => {
    const dir = project();
    await tamper(dir, `DELETE FROM ${AUDIT}`);
    expectBroken(dir, ['--head', head], 1, /truncated/);
  });

  it('a malformed --head is a usage error (exit 2)', () => {
    const r = cli(built, ['audit', 'verify', '--head', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: --head must be/);
  });
});
