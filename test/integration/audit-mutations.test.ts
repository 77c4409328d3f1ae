/**
 * Every mutating command in the registry (src/core/mutations.ts) produces exactly the expected audit
 * records; a refused or failed command produces none and changes nothing; and every command the
 * CLI registers is either in the registry or explicitly declared as not audited.
 *
 * Real CLI subprocesses (dist/) on a real DuckDB project; audit records are read back through the
 * state store after the CLI has exited.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChain, type AuditRecord } from '../../src/audit/chain.js';
import { buildProgram } from '../../src/cli/main.js';
import { MUTATING_COMMANDS, NOT_AUDITED_COMMANDS, mutatingCommand, type MutatingCommand } from '../../src/core/mutations.js';
import type { PublishedPartition } from '../../src/execute/publish.js';
import { readAudit } from '../../src/state/audit.js';
import { stateTable } from '../../src/state/tables.js';
import {
  REDUCED_FROM,
  REDUCED_TO,
  cleanup,
  cli,
  dataFiles,
  readModel,
  requireBuild,
  scaffoldShop,
  snapshotState,
  withWorkspace,
  writeModel,
  writeOrdersFix,
  type CliResult,
} from '../helpers/project.js';

/** Every leaf command path the CLI registers: `ingest`, `audit verify`, `checkpoint reset`, … */
function leafCommands(cmd: Command, prefix: string[] = []): string[] {
  return cmd.commands.flatMap((c) => {
    const p = [...prefix, c.name()];
    return c.commands.length ? leafCommands(c, p) : [p.join(' ')];
  });
}

const REGISTERED = new Set(leafCommands(buildProgram()));

interface Published {
  dataset: string;
  partition: string;
  version_before: number | null;
  version_after: number;
}

interface WriteResult {
  run_id: string | null;
  status: string;
  published: Published[];
}

/** A publish's audit record lists each changed partition as publish returns it, without the dataset (the record names it). */
type ChangedDetail = Omit<PublishedPartition, 'dataset'>;

async function auditRecords(dir: string): Promise<AuditRecord[]> {
  return withWorkspace(dir, (ws) => readAudit(ws.engine, ws.engine));
}

/** (dataset/partition/version) → rows and checksum, from the versions table. */
/** The records a command appended after `before`: the trail is append-only and its chain intact. */
async function appendedRecords(dir: string, before: AuditRecord[]): Promise<AuditRecord[]> {
  const after = await auditRecords(dir);
  expect(after.slice(0, before.length)).toEqual(before);
  expect(verifyAuditChain(after).ok).toBe(true);
  return after.slice(before.length);
}

/** Runs a write that must append exactly one audit record, of one of `command`'s actions; returns it. */
async function soleRecordOf(dir: string, args: string[], command: MutatingCommand): Promise<AuditRecord> {
  const before = await auditRecords(dir);
  const r = cli(dir, args);
  expect(r.code, describeRun(args, r)).toBe(0);
  const added = await appendedRecords(dir, before);
  expect(added).toHaveLength(1);
  expect(command.auditActions).toContain(added[0].action);
  return added[0];
}

async function versionFacts(dir: string): Promise<Map<string, { rows: number; checksum: string }>> {
  return withWorkspace(dir, async (ws) => {
    const rows = await ws.engine.query<{ dataset: string; partition: string; version: number; rows: number; checksum: string }>(
      `SELECT dataset, partition, version, rows, checksum FROM ${stateTable(ws.engine, 'versions')}`,
    );
    return new Map(rows.map((r) => [`${r.dataset}/${r.partition}/${Number(r.version)}`, { rows: Number(r.rows), checksum: r.checksum }]));
  });
}

function describeRun(args: string[], r: CliResult): string {
  return `tidemark ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout.slice(0, 2000)}\nstderr: ${r.stderr}`;
}

/** Runs a write command with --json; if it stops for confirmation (exit 3, no TTY), confirms with --yes. */
function runWrite(dir: string, args: string[], env?: Record<string, string>): { result: WriteResult; args: string[] } {
  let full = [...args, '--json'];
  let r = cli(dir, full, { env });
  if (r.code === 3 && /confirmation needed/.test(r.stderr)) {
    full = [...args, '--yes', '--json'];
    r = cli(dir, full, { env });
  }
  if (r.code !== 0) throw new Error(describeRun(full, r));
  return { result: JSON.parse(r.stdout) as WriteResult, args: full };
}

interface Expectation {
  command: MutatingCommand;
  reason: string | RegExp;
  actor: string;
}

/**
 * The records a publish-type write (ingest, run, backfill, restore, dedupe) must leave: one per
 * dataset it changed, in dependency order, naming exactly the changed partitions with their
 * versions, rows and checksums before and after, the run, the reason, the actor and the command.
 */
async function expectPublishRecords(dir: string, before: AuditRecord[], result: WriteResult, args: string[], e: Expectation): Promise<AuditRecord[]> {
  const added = await appendedRecords(dir, before);

  expect(result.status).toBe('published');
  const byDataset = new Map<string, Published[]>();
  for (const p of result.published) {
    let list = byDataset.get(p.dataset);
    if (!list) byDataset.set(p.dataset, (list = []));
    list.push(p);
  }
  expect(byDataset.size, 'the command must publish something for this scenario').toBeGreaterThan(0);
  expect(added.map((r) => r.dataset).sort()).toEqual([...byDataset.keys()].sort());

  const facts = await versionFacts(dir);
  const seqs = new Set<unknown>();
  for (const record of added) {
    const published = byDataset.get(record.dataset!)!.sort((a, b) => a.partition.localeCompare(b.partition));
    expect(e.command.auditActions).toContain(record.action);
    if (typeof e.reason === 'string') expect(record.reason).toBe(e.reason);
    else expect(record.reason).toMatch(e.reason);
    expect(record.actor).toBe(e.actor);
    expect(record.run_id).toBe(result.run_id);
    expect(record.command.startsWith(`tidemark ${e.command.cli} `)).toBe(true);
    expect(record.command).toContain(args[e.command.cli.split(' ').length]); // the first argument after the command
    expect(record.partitions).toEqual(published.map((p) => p.partition));
    const details = record.details as { publish_seq: number; changed: ChangedDetail[] };
    seqs.add(details.publish_seq);
    expect(details.changed).toEqual(
      published.map((p) => {
        const now = facts.get(`${p.dataset}/${p.partition}/${p.version_after}`)!;
        const prev = p.version_before === null ? null : facts.get(`${p.dataset}/${p.partition}/${p.version_before}`)!;
        expect(now, `version ${p.version_after} of ${p.dataset} ${p.partition} is recorded`).toBeDefined();
        return {
          partition: p.partition,
          version_before: p.version_before,
          version_after: p.version_after,
          rows_before: prev?.rows ?? null,
          rows_after: now.rows,
          checksum_before: prev?.checksum ?? null,
          checksum_after: now.checksum,
        };
      }),
    );
  }
  expect(seqs.size, 'all records of one command belong to one publish').toBe(1);
  return added;
}

/** A lock-type write: exactly one record for the dataset and range, nothing published. */
async function expectRangeRecord(dir: string, before: AuditRecord[], args: string[], e: Expectation & { dataset: string; partitions: string[] }): Promise<void> {
  const added = await appendedRecords(dir, before);
  expect(added).toHaveLength(1);
  const [record] = added;
  expect(e.command.auditActions).toContain(record.action);
  expect(record.dataset).toBe(e.dataset);
  expect(record.partitions).toEqual(e.partitions);
  expect(record.reason).toBe(e.reason);
  expect(record.actor).toBe(e.actor);
  expect(record.command.startsWith(`tidemark ${e.command.cli} ${args[1]}`)).toBe(true);
}

function defaultReasonPattern(command: MutatingCommand): RegExp {
  const escaped = command.defaultReason!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${escaped.replace(/\bN\b/, '\\d+')}$`);
}

const LAST_DAYS = ['2026-03-12', '2026-03-13', '2026-03-14'];

describe('the registry of mutating commands', () => {
  it('covers every command the CLI registers', () => {
    const declared = new Set([...MUTATING_COMMANDS.map((m) => m.cli), ...Object.keys(NOT_AUDITED_COMMANDS)]);
    const undeclared = [...REGISTERED].filter((c) => !declared.has(c));
    expect(undeclared, 'add these commands to MUTATING_COMMANDS or NOT_AUDITED_COMMANDS in src/core/mutations.ts').toEqual([]);
    expect(MUTATING_COMMANDS.filter((m) => m.cli in NOT_AUDITED_COMMANDS)).toEqual([]);
  });

  it('names every command the issue requires --reason for', () => {
    const required = MUTATING_COMMANDS.filter((m) => m.reasonRequired).map((m) => m.cli);
    for (const c of ['backfill', 'restore', 'unlock', 'dedupe', 'checkpoint reset', 'gc']) expect(required).toContain(c);
    for (const m of MUTATING_COMMANDS) expect(m.reasonRequired || m.defaultReason !== undefined, `${m.cli}: required or defaulted reason`).toBe(true);
  });
});

describe('every mutating command writes exactly its audit records', () => {
  let dir: string;
  const osUser = os.userInfo().username;

  beforeAll(async () => {
    requireBuild();
    dir = await scaffoldShop();
  });
  afterAll(() => cleanup(dir));

  /** Minimal invocations without --reason, for the exit-2 check. */
  const withoutReason: Record<string, string[]> = {
    backfill: ['backfill', 'daily_revenue', '--from', LAST_DAYS[0], '--to', LAST_DAYS[0], '--yes'],
    restore: ['restore', 'daily_revenue', '--version', '1', '--from', LAST_DAYS[0], '--to', LAST_DAYS[0], '--yes'],
    lock: ['lock', 'daily_revenue', '--from', LAST_DAYS[0], '--to', LAST_DAYS[0]],
    unlock: ['unlock', 'daily_revenue', '--from', LAST_DAYS[0], '--to', LAST_DAYS[0]],
    dedupe: ['dedupe', 'orders', '--yes'],
    'checkpoint reset': ['checkpoint', 'reset', 'daily_revenue', '--yes'],
    gc: ['gc'],
  };

  /** One scenario per registry entry, run in registry order on the same project. */
  const scenarios: Record<string, (command: MutatingCommand) => Promise<void>> = {
    async ingest(command) {
      // --actor wins over TIDEMARK_ACTOR (the helper sets TIDEMARK_ACTOR=test); the reason defaults.
      let before = await auditRecords(dir);
      let w = runWrite(dir, ['ingest', 'orders', ...dataFiles(dir, 'orders'), '--actor', 'alice']);
      await expectPublishRecords(dir, before, w.result, w.args, { command, reason: defaultReasonPattern(command), actor: 'alice' });
      // TIDEMARK_ACTOR when there is no --actor.
      before = await auditRecords(dir);
      w = runWrite(dir, ['ingest', 'fx_rates', ...dataFiles(dir, 'fx_rates')], { TIDEMARK_ACTOR: 'bob' });
      await expectPublishRecords(dir, before, w.result, w.args, { command, reason: defaultReasonPattern(command), actor: 'bob' });
      // A file already loaded is a no-op: no run, no record.
      before = await auditRecords(dir);
      const again = runWrite(dir, ['ingest', 'fx_rates', ...dataFiles(dir, 'fx_rates')]);
      expect(again.result.published).toEqual([]);
      expect(await auditRecords(dir)).toEqual(before);
    },
    async run(command) {
      // Neither --actor nor TIDEMARK_ACTOR: the OS user. Three models built: three records.
      const before = await auditRecords(dir);
      const w = runWrite(dir, ['run'], { TIDEMARK_ACTOR: '' });
      const added = await expectPublishRecords(dir, before, w.result, w.args, { command, reason: command.defaultReason!, actor: osUser });
      expect(added.map((r) => r.dataset)).toEqual(['daily_revenue', 'monthly_revenue', 'revenue_7d']);
      // The upstream fix restates the orders of the last days (versions 1 → 2).
      const beforeFix = await auditRecords(dir);
      const fix = runWrite(dir, ['ingest', 'orders', ...writeOrdersFix(dir, LAST_DAYS), '--reason', 'EUR amounts fixed upstream']);
      const [fixRecord] = await expectPublishRecords(dir, beforeFix, fix.result, fix.args, { command: mutatingCommand('ingest')!, reason: 'EUR amounts fixed upstream', actor: 'test' });
      expect((fixRecord.details as { changed: ChangedDetail[] }).changed.every((c) => c.version_before === 1 && c.version_after === 2)).toBe(true);
    },
    async backfill(command) {
      const before = await auditRecords(dir);
      const w = runWrite(dir, ['backfill', 'daily_revenue', '--from', LAST_DAYS[0], '--to', LAST_DAYS[2], '--downstream', '--reason', 'EUR fix, ticket 42', '--yes']);
      const added = await expectPublishRecords(dir, before, w.result, w.args, { command, reason: 'EUR fix, ticket 42', actor: 'test' });
      expect(added.map((r) => r.dataset)).toEqual(['daily_revenue', 'monthly_revenue', 'revenue_7d']);
      expect(added[0].partitions).toEqual(LAST_DAYS);
    },
    async restore(command) {
      const before = await auditRecords(dir);
      const w = runWrite(dir, ['restore', 'daily_revenue', '--version', '1', '--from', LAST_DAYS[0], '--to', LAST_DAYS[0], '--reason', 'roll back the fix for review']);
      const added = await expectPublishRecords(dir, before, w.result, w.args, { command, reason: 'roll back the fix for review', actor: 'test' });
      expect(added[0].dataset).toBe('daily_revenue');
      expect(added[0].partitions).toEqual([LAST_DAYS[0]]);
    },
    async lock(command) {
      const before = await auditRecords(dir);
      const args = ['lock', 'daily_revenue', '--from', LAST_DAYS[0], '--to', LAST_DAYS[1], '--reason', 'month-end close'];
      const r = cli(dir, args);
      expect(r.code, describeRun(args, r)).toBe(0);
      await expectRangeRecord(dir, before, args, { command, reason: 'month-end close', actor: 'test', dataset: 'daily_revenue', partitions: LAST_DAYS.slice(0, 2) });
      // A write into the locked range is refused (exit 3) and leaves no record and no change.
      const state = await snapshotState(dir);
      const refused = cli(dir, ['backfill', 'daily_revenue', '--from', LAST_DAYS[0], '--to', LAST_DAYS[0], '--reason', 'x', '--yes']);
      expect(refused.code, refused.stderr).toBe(3);
      expect(await snapshotState(dir)).toEqual(state);
    },
    async unlock(command) {
      const before = await auditRecords(dir);
      const args = ['unlock', 'daily_revenue', '--from', LAST_DAYS[0], '--to', LAST_DAYS[1], '--reason', 'close done'];
      const r = cli(dir, args);
      expect(r.code, describeRun(args, r)).toBe(0);
      await expectRangeRecord(dir, before, args, { command, reason: 'close done', actor: 'test', dataset: 'daily_revenue', partitions: LAST_DAYS.slice(0, 2) });
    },
  };

  scenarios['checkpoint reset'] = async (command) => {
    // For this scenario daily_revenue is an incremental model (cursor: day) that has no checkpoint yet.
    const yamlFile = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(yamlFile, 'utf8');
    const keyLine = '    key: [day, currency]\n'; // its first occurrence is daily_revenue's
    expect(yaml.includes(keyLine)).toBe(true);
    writeFileSync(yamlFile, yaml.replace(keyLine, `${keyLine}    incremental: { cursor: day }\n`));
    try {
      const listed = cli(dir, ['partitions', 'daily_revenue', '--json']);
      const beyond = (JSON.parse(listed.stdout) as { partition: string; rows: number | null }[]).filter((p) => p.partition > LAST_DAYS[0] && p.rows !== null);
      expect(beyond.length, 'partitions after the new mark').toBeGreaterThan(0);
      const reason = 'replay the days after the EUR fix';
      // The dry run writes nothing, not even an audit record.
      const state = await snapshotState(dir);
      const dry = cli(dir, ['checkpoint', 'reset', 'daily_revenue', '--to', LAST_DAYS[0], '--reason', reason, '--dry-run']);
      expect(dry.code, dry.stderr).toBe(0);
      expect(await snapshotState(dir)).toEqual(state);

      const record = await soleRecordOf(dir, ['checkpoint', 'reset', 'daily_revenue', '--to', LAST_DAYS[0], '--reason', reason, '--yes'], command);
      expect(record).toMatchObject({ action: 'checkpoint_reset', dataset: 'daily_revenue', partitions: beyond.map((p) => p.partition), reason, actor: 'test', run_id: null });
      expect(record.command.startsWith('tidemark checkpoint reset daily_revenue')).toBe(true);
      expect(record.details).toEqual({
        cursor_column: 'day',
        from: null,
        to: LAST_DAYS[0],
        data_max: beyond[beyond.length - 1].partition,
        replay: beyond.map((p) => ({ partition: p.partition, rows: p.rows })),
        rows_beyond: beyond.reduce((s, p) => s + p.rows!, 0),
      });
    } finally {
      writeFileSync(yamlFile, yaml);
    }
  };

  scenarios.gc = async (command) => {
    // Retention 0/0: every replaced version expires, so gc has something to remove and record.
    const yamlFile = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(yamlFile, 'utf8');
    const replaced = await withWorkspace(dir, (ws) =>
      ws.engine.query<{ dataset: string; partition: string; version: number }>(
        `SELECT dataset, partition, version FROM ${stateTable(ws.engine, 'versions')} WHERE retained AND replaced_at IS NOT NULL ORDER BY dataset, partition, version`,
      ),
    );
    expect(replaced.length, 'earlier scenarios replaced versions').toBeGreaterThan(0);
    writeFileSync(yamlFile, `${yaml}\nretention: { versions: 0, days: 0 }\n`);
    try {
      const before = await auditRecords(dir);
      const args = ['gc', '--reason', 'free space after the EUR fix'];
      const r = cli(dir, args);
      expect(r.code, describeRun(args, r)).toBe(0);
      const added = await appendedRecords(dir, before);
      const datasets = [...new Set(replaced.map((v) => v.dataset))];
      expect(added.map((a) => a.dataset).sort()).toEqual(datasets.sort());
      for (const record of added) {
        const mine = replaced.filter((v) => v.dataset === record.dataset);
        expect(record.action).toBe('gc.retention');
        expect(command.auditActions).toContain(record.action);
        expect(record.reason).toBe('free space after the EUR fix');
        expect(record.actor).toBe('test');
        expect(record.partitions).toEqual([...new Set(mine.map((v) => v.partition))].sort());
        const removed = (record.details as { removed: { partition: string; version: number }[] }).removed;
        expect(removed.map((x) => `${x.partition}/${x.version}`).sort()).toEqual(mine.map((v) => `${v.partition}/${Number(v.version)}`).sort());
      }
    } finally {
      writeFileSync(yamlFile, yaml);
    }
  };

  scenarios['consumers redeliver'] = async (command) => {
    // For this scenario a ready-marker consumer follows daily_revenue; a day's fix is built and delivered to it.
    const yamlFile = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(yamlFile, 'utf8');
    const sqlLine = '    sql: models/daily_revenue.sql\n';
    expect(yaml.includes(sqlLine)).toBe(true);
    writeFileSync(yamlFile, `${yaml.replace(sqlLine, `${sqlLine}    consumers: [ready_marker]\n`)}\nconsumers:\n  ready_marker: { kind: file, path: "ready/daily_revenue.json" }\n`);
    try {
      runWrite(dir, ['ingest', 'orders', ...writeOrdersFix(dir, [REDUCED_TO])]);
      const built = runWrite(dir, ['run']).result;
      const deliveries = () =>
        withWorkspace(dir, (ws) =>
          ws.engine.query<{ event_id: number; consumer: string; event_type: string; run_id: string; status: string; attempts: number; delivered_at: string | null; last_error: string | null }>(
            `SELECT d.event_id, d.consumer, o.event_type, o.run_id, d.status, d.attempts, d.delivered_at, d.last_error FROM ${stateTable(ws.engine, 'deliveries')} d
             JOIN ${stateTable(ws.engine, 'outbox')} o ON o.event_id = d.event_id WHERE o.run_id = $1 ORDER BY d.event_id, d.consumer`,
            [built.run_id],
          ),
        );
      const delivered = (await deliveries()).map((d) => ({ ...d, event_id: Number(d.event_id), attempts: Number(d.attempts) }));
      expect(delivered.length, 'the run was delivered to the consumer').toBeGreaterThan(0);
      expect(delivered.every((d) => d.status === 'delivered' && d.delivered_at !== null)).toBe(true);

      // Delivering what is pending (nothing) re-queues nothing and records nothing.
      const before = await auditRecords(dir);
      expect(cli(dir, ['consumers', 'redeliver']).code).toBe(0);
      expect(await auditRecords(dir)).toEqual(before);

      // A forced re-send overwrites each delivery's state: one record keeps each as it stood.
      const record = await soleRecordOf(dir, ['consumers', 'redeliver', '--run', built.run_id!, '--reason', 'the marker file was deleted'], command);
      expect(record).toMatchObject({ action: 'consumers.redeliver', reason: 'the marker file was deleted', actor: 'test', run_id: built.run_id, dataset: null, partitions: [] });
      expect(record.command.startsWith('tidemark consumers redeliver --run')).toBe(true);
      expect((record.details as { requeued: unknown[] }).requeued).toEqual(delivered);
      expect((await deliveries()).every((d) => d.status === 'delivered')).toBe(true); // delivered again by the same command

      // Without --reason, the default reason is recorded.
      const again = cli(dir, ['consumers', 'redeliver', '--run', built.run_id!]);
      expect(again.code, again.stderr).toBe(0);
      expect((await auditRecords(dir)).at(-1)).toMatchObject({ action: 'consumers.redeliver', reason: command.defaultReason });
    } finally {
      writeFileSync(yamlFile, yaml);
    }
  };

  /**
   * Commands whose exact records are not specified here yet (their engineers own the details): any
   * record they write must carry one of their declared actions, the given reason and the actor,
   * and the chain must stay intact. Replace with an exact scenario above when the command lands.
   */
  const genericInvocations: Record<string, string[]> = {
    dedupe: ['dedupe', 'orders', '--reason', 'dedupe check'],
  };

  async function genericScenario(command: MutatingCommand): Promise<void> {
    const args = genericInvocations[command.cli];
    expect(args, `write a scenario for '${command.cli}' in test/integration/audit-mutations.test.ts`).toBeDefined();
    const before = await auditRecords(dir);
    let r = cli(dir, args);
    if (r.code === 3 && /confirmation needed/.test(r.stderr)) r = cli(dir, [...args, '--yes']);
    expect(r.code, `${describeRun(args, r)}\n(update the scenario for '${command.cli}' in test/integration/audit-mutations.test.ts)`).toBe(0);
    const added = await appendedRecords(dir, before);
    const reason = args[args.indexOf('--reason') + 1];
    for (const record of added) {
      expect(command.auditActions).toContain(record.action);
      expect(record.reason).toBe(reason);
      expect(record.actor).toBe('test');
      expect(record.command.startsWith(`tidemark ${command.cli}`)).toBe(true);
    }
  }

  for (const command of MUTATING_COMMANDS) {
    const registered = REGISTERED.has(command.cli);
    const label = registered ? command.cli : `${command.cli} (skipped: \`tidemark ${command.cli}\` is not registered in the CLI yet)`;

    if (command.reasonRequired) {
      it.skipIf(!registered)(`${label}: refuses to run without --reason (exit 2) and writes nothing`, async () => {
        const args = withoutReason[command.cli];
        expect(args, `add a --reason-less invocation of '${command.cli}' to withoutReason`).toBeDefined();
        const state = await snapshotState(dir);
        const r = cli(dir, args);
        expect(r.code, describeRun(args, r)).toBe(2);
        expect(r.stderr).toMatch(/--reason/);
        expect(await snapshotState(dir)).toEqual(state);
      });
    }

    it.skipIf(!registered)(`${label}: writes exactly the expected audit records`, async () => {
      await (scenarios[command.cli] ?? genericScenario)(command);
    });
  }

  it('a refused backfill (guard, exit 3) and an unconfirmed one write nothing', async () => {
    const state = await snapshotState(dir);
    // Every partition = a full refresh, refused without --allow-full-refresh.
    const full = cli(dir, ['backfill', 'daily_revenue', '--from', REDUCED_FROM, '--to', REDUCED_TO, '--reason', 'everything', '--yes']);
    expect(full.code, full.stderr).toBe(3);
    expect(full.stderr).toMatch(/^error: refused/m);
    // No --yes and no terminal: awaiting confirmation, exit 3.
    const unconfirmed = cli(dir, ['backfill', 'daily_revenue', '--from', LAST_DAYS[1], '--to', LAST_DAYS[1], '--reason', 'not confirmed']);
    expect(unconfirmed.code, unconfirmed.stderr).toBe(3);
    expect(await snapshotState(dir)).toEqual(state);
  });

  it('a failed backfill (validation, exit 4) and a failed ingest write nothing', async () => {
    const state = await snapshotState(dir);
    const original = readModel(dir, 'daily_revenue');
    // A wrong date filter: rows land one day outside the task's window.
    writeModel(dir, 'daily_revenue', original.replace('o.order_date AS day', 'CAST(o.order_date + INTERVAL 1 DAY AS DATE) AS day'));
    try {
      const r = cli(dir, ['backfill', 'daily_revenue', '--from', LAST_DAYS[1], '--to', LAST_DAYS[1], '--reason', 'bad filter', '--yes']);
      expect(r.code, r.stderr).toBe(4);
    } finally {
      writeModel(dir, 'daily_revenue', original);
    }
    // Duplicate keys inside one file: key validation fails in staging.
    const dup = path.join('data', 'orders', 'orders-dup.csv');
    writeFileSync(path.join(dir, dup), 'order_id,customer_id,amount_cents,currency,status,order_date\n1,1,100,USD,paid,2026-03-01\n1,2,200,USD,paid,2026-03-01\n');
    const ingest = cli(dir, ['ingest', 'orders', dup]);
    expect(ingest.code, ingest.stderr).toBe(4);
    expect(await snapshotState(dir)).toEqual(state);
  });
});
