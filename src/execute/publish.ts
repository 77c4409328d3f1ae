/**
 * Publish: one engine transaction moves the previous live rows of every changed partition to history,
 * inserts the staged rows, records the new versions and input fingerprints, appends the audit
 * records and the outbox event. Readers see the old state or the new state, never a mix.
 *
 * A run publishes once, at the end (the default), or with `--publish partition` once per computed
 * batch (`hooks.batch`) and once more at the end: each of those is this same transaction, over the
 * batch's partitions only, and only the last one sets the run 'published'.
 */
import type { DatasetSpec } from '../config/project.js';
import { windowOf } from '../core/grain.js';
import { FILE_COLUMN, PARTITION_COLUMN, REPLACED_SEQ_COLUMN } from '../core/identifiers.js';
import { inputsFor, partitionsRead, type Snapshot } from '../core/staleness.js';
import type { ColumnInfo, Db, Engine } from '../engines/engine.js';
import { driftedFromRecord } from '../api/live-checksums.js';
import { appendAudits, readAudit, type AuditFields } from '../state/audit.js';
import { advanceCheckpoint } from '../state/checkpoints.js';
import { nowIso } from '../state/json.js';
import { nextPublishSeq } from '../state/meta.js';
import { appendOutboxEvent } from '../state/outbox.js';
import { loadPartitionVersionsOf, recordNewVersions, type Inputs, type NewVersion } from '../state/partitions.js';
import { listTasks, setRunStatus, type TaskRecord } from '../state/runs.js';
import { historyTable, liveTable, stagingName, stagingTable, stateTable } from '../state/tables.js';
import { TidemarkError } from '../errors.js';
import { addModelColumns, type AppliedSchemaChange } from './add-columns.js';
import { crashPoint, pausePoint } from './crash.js';
import { dropCopiedRows, keepsHistory, takeHistoryCopies, type HistoryCopy } from './history-copy.js';
import { adoptLoadTable } from './first-load.js';
import { jsonRowsParam } from '../engines/json-rows.js';
import type { RunContext } from './run-context.js';

export interface PublishedPartition {
  dataset: string;
  partition: string;
  version_before: number | null;
  version_after: number;
  rows_before: number | null;
  rows_after: number;
  checksum_before: string | null;
  checksum_after: string;
}

/** A model's live table gaining columns in a publish (on_schema_change: add_columns), as its result reports it. */
export interface DatasetSchemaChange extends Omit<AppliedSchemaChange, 'checksums'> {
  dataset: string;
}

/** The result's view of a schema change: the per-partition checksums stay in the audit record. */
function reported(dataset: string, { checksums: _sealed, ...change }: AppliedSchemaChange): DatasetSchemaChange {
  return { dataset, ...change };
}

export interface PublishResult {
  publish_seq: number;
  published: PublishedPartition[];
  unchanged: number;
  /** Models whose live table gained columns in this publish. */
  schema_changes: DatasetSchemaChange[];
}

/** How a run's versions are labelled in history and the change feed. */
export type PublishKind = 'computed' | 'restore';

/**
 * Work done first in a publish transaction, before the recorded versions are read: an ingest adds the
 * columns of an additive schema change and recomputes the recorded checksums. What it returns is
 * added to the audit record of that dataset.
 */
export type PublishPrepare = (tx: Db) => Promise<{ dataset: string; details: Record<string, unknown> } | null>;

export interface PublishHooks {
  prepare?: PublishPrepare;
  extra?: (tx: Db) => Promise<void>;
  /**
   * Replace every computed partition even when its checksum equals the recorded one. For repairs of
   * live data changed outside Tidemark (dedupe): there the recorded checksum no longer describes the
   * table, so "same as recorded" does not mean "nothing to do".
   */
  alwaysReplace?: boolean;
  /**
   * `--publish partition`: publish only these computed partitions of one dataset, now. The run stays
   * 'computing' and its outbox event says `partial: true`; a last publishRun without `batch` ends it.
   */
  batch?: { dataset: string; partitions: string[] };
}

export async function publishRun(ctx: RunContext, kind: PublishKind = 'computed', hooks: PublishHooks = {}): Promise<PublishResult> {
  const { ws, runId } = ctx;
  const { engine, project } = ws;
  return engine.transaction(async (tx) => {
    const seq = await nextPublishSeq(tx, engine);
    // Replaced rows copied to history before this transaction (history-copy.ts): taken first, before
    // this transaction locks any table (as gc takes them), so gc cannot remove them under it. One is
    // used below only if this attempt made it and it is still of the version replaced.
    const copiedAhead = keepsHistory(ctx) ? await takeHistoryCopies(tx, engine, runId, [...project.datasets.keys()]) : new Map<string, Map<string, HistoryCopy>>();
    const usedCopies: HistoryCopy[] = [];
    const prepared = hooks.prepare ? await hooks.prepare(tx) : null;
    const tasks = await listTasks(tx, engine, runId);
    const inBatch = hooks.batch ? new Set(hooks.batch.partitions) : null;
    const publishing = tasks.filter((t) => t.status === 'computed' && (!hooks.batch || (hooks.batch.dataset === t.dataset && inBatch!.has(t.partition))));
    // Models whose output gained columns (on_schema_change: add_columns) get them first, with their
    // recorded checksums recomputed, before those are read below — as an ingest's `prepare` does for a
    // source: staged and recorded checksums are then over the same columns (add-columns.ts).
    const schemaChanges = await addColumnsOfModels(tx, engine, ctx, publishing);
    // Versions of the partitions this publish replaces and of those they read (their input
    // fingerprints), not of whole datasets; `snapshot` then takes this run's new versions, `current`
    // stays as before.
    const current = await loadPartitionVersionsOf(tx, engine, partitionsRead(project, publishing));
    const snapshot: Snapshot = new Map([...current].map(([ds, m]) => [ds, new Map(m)]));
    const published: PublishedPartition[] = [];
    let unchanged = 0;
    const now = nowIso();
    // Written once for every dataset of the publish, after the loop: a few statements per publish.
    const newVersions: NewVersion[] = [];
    const replacedNotRetained: { dataset: string; partition: string; version: number }[] = [];
    const audits: AuditFields[] = [];
    // A backfill (or an ingest --reload) is a deliberate rebuild: a partition it computed to the
    // recorded content is still replaced when its live rows were changed outside Tidemark (`audit
    // verify --data` reports them), or the repair would be skipped as "unchanged". One aggregate
    // over just those partitions.
    const repairs = ctx.plan.kind === 'backfill' || ctx.plan.request.reload === true;

    for (const name of project.order) {
      if (hooks.batch && hooks.batch.dataset !== name) continue;
      const mine = publishing.filter((t) => t.dataset === name);
      if (!mine.length) continue;
      const ds = project.datasets.get(name)!;
      const before = current.get(name) ?? new Map();
      let changed = mine.filter((t) => hooks.alwaysReplace || before.get(t.partition)?.checksum !== t.checksum);
      if (repairs && changed.length < mine.length) {
        const recomputed = new Set(changed);
        const drifted = await driftedFromRecord(tx, engine, ds, mine.filter((t) => !recomputed.has(t)).map((t) => t.partition), before);
        if (drifted.size) changed = mine.filter((t) => recomputed.has(t) || drifted.has(t.partition));
      }
      changed.sort((a, b) => a.partition.localeCompare(b.partition));
      const same = mine.filter((t) => !changed.includes(t));
      unchanged += same.length;
      // 'publishing' names exactly this publish's partitions (a run that publishes per batch has
      // 'published' tasks from earlier publishes); they become 'published' before the commit.
      await markTasks(tx, engine, runId, name, changed, 'publishing');
      await markTasks(tx, engine, runId, name, same, 'unchanged');
      const schemaChange = schemaChanges.get(name) ?? null;
      if (changed.length) {
        const prior = {
          replacesRows: changed.some((t) => before.has(t.partition)),
          // A partition this publish replaces proves the dataset has rows; otherwise the state says.
          datasetEmpty: before.size === 0 && !(await hasPartitions(tx, engine, name)),
          // Every partition the run staged for this dataset goes out now (no unchanged one, no earlier
          // batch): the staged rows need no filter by partition (on a view of files, a text key per row).
          wholeStaging: tasks.filter((t) => t.dataset === name).length === changed.length,
        };
        const copies = copiedAhead.get(name) ?? new Map<string, HistoryCopy>();
        const copied = changed.flatMap((t) => {
          const copy = copies.get(t.partition);
          return copy && copy.tag === ctx.historyCopyTag && copy.version === before.get(t.partition)?.version ? [copy] : [];
        });
        usedCopies.push(...copied);
        const inHistory = new Set(copied.map((c) => c.partition));
        const toHistory = changed.filter((t) => before.has(t.partition) && !inHistory.has(t.partition)).map((t) => t.partition);
        await replacePartitions(tx, engine, ctx, ds, changed.map((t) => t.partition), { ...prior, seq, toHistory, copiedAhead: copied.length });
        crashPoint('publish.replaced');
      }
      let dsSnapshot = snapshot.get(name);
      if (!dsSnapshot) snapshot.set(name, (dsSnapshot = new Map()));
      const changedKeys = new Set(changed.map((t) => t.partition));
      // Partitions in ascending order, so a cumulative model's d sees d-1's new version.
      for (const t of [...mine].sort((a, b) => a.partition.localeCompare(b.partition))) {
        const prev = before.get(t.partition);
        const inputs: Inputs = ds.kind === 'model' ? inputsFor(project, ds, t.partition, snapshot) : {};
        if (!changedKeys.has(t.partition)) {
          if (prev && JSON.stringify(prev.inputs) !== JSON.stringify(inputs)) {
            await tx.exec(`UPDATE ${stateTable(engine, 'partitions')} SET inputs = $3 WHERE dataset = $1 AND partition = $2`, [name, t.partition, JSON.stringify(inputs)]);
          }
          continue;
        }
        const version = (prev?.version ?? 0) + 1;
        const rows = Number(t.rows);
        const checksum = String(t.checksum);
        const versionKind = kind === 'restore' ? 'restore' : prev ? 'restate' : 'new';
        dsSnapshot.set(t.partition, { version, rows, checksum, inputs });
        newVersions.push({ dataset: name, partition: t.partition, version, rows, checksum, inputs, kind: versionKind });
        published.push({
          dataset: name,
          partition: t.partition,
          version_before: prev?.version ?? null,
          version_after: version,
          rows_before: prev?.rows ?? null,
          rows_after: rows,
          checksum_before: prev?.checksum ?? null,
          checksum_after: checksum,
        });
      }
      if (!keepsHistory(ctx)) {
        for (const p of published) if (p.dataset === name && p.version_before !== null) replacedNotRetained.push({ dataset: name, partition: p.partition, version: p.version_before });
      }
      // Incremental models (issue 5): the checkpoint is recomputed from the live rows just replaced, in
      // this same transaction, so data and checkpoint commit together (rule in state/checkpoints.ts).
      if (ds.kind === 'model' && ds.incremental) await advanceCheckpoint(tx, engine, ds, seq, now);
      // A schema change is audited even when no partition's content changed (the new column NULL everywhere).
      if (changed.length || ctx.plan.targets.includes(name) || schemaChange) {
        const mineChanged = published.filter((p) => p.dataset === name);
        audits.push({
          actor: ws.actor,
          action: ctx.plan.kind,
          reason: ctx.options.reason,
          command: ws.command,
          run_id: runId,
          dataset: name,
          partitions: mineChanged.map((p) => p.partition),
          details: { publish_seq: seq, changed: mineChanged.map(({ dataset: _d, ...rest }) => rest), unchanged: same.length, request: ctx.plan.request, ...(schemaChange ? { schema_change: schemaChange } : {}), ...(prepared?.dataset === name ? prepared.details : {}), ...(keepsHistory(ctx) ? {} : { history: 'not kept (retention: versions 0, days 0)' }) },
          config_hash: project.configHash,
        });
      }
    }
    // Copies this publish does not use (content unchanged after all, a version since replaced, a copy
    // from an earlier attempt): their rows go. (takeHistoryCopies took only declared datasets.)
    const used = new Set(usedCopies.map((c) => `${c.dataset}\0${c.partition}`));
    for (const [name, copies] of copiedAhead) {
      await dropCopiedRows(tx, engine, project.datasets.get(name)!, [...copies.values()].filter((c) => !used.has(`${c.dataset}\0${c.partition}`)));
    }
    await recordNewVersions(tx, engine, newVersions, { run_id: runId, publish_seq: seq, published_at: now, actor: ws.actor, reason: ctx.options.reason });
    await markReplacedNotRetained(tx, engine, replacedNotRetained);
    await tagReplacedWithCopies(tx, engine, seq, usedCopies);
    await appendAudits(tx, engine, audits);
    await tx.exec(`UPDATE ${stateTable(engine, 'tasks')} SET status = 'published' WHERE run_id = $1 AND status = 'publishing'`, [runId]);
    if (hooks.extra) await hooks.extra(tx);
    await appendOutboxEvent(tx, engine, 'run.published', runId, {
      kind: ctx.plan.kind,
      publish_seq: seq,
      datasets: [...new Set(published.map((p) => p.dataset))],
      partitions: published.map((p) => ({ dataset: p.dataset, partition: p.partition, version: p.version_after })),
      // Consumers hear each batch as it lands; the run completes only on acks after its last publish.
      ...(hooks.batch ? { partial: true } : {}),
    });
    if (!hooks.batch) await setRunStatus(tx, engine, runId, 'published', { publish_seq: seq, error: null });
    crashPoint('publish.before_commit');
    await pausePoint('publish.before_commit');
    // From here on the outcome is the commit's: a process stopped now may or may not have published (cli/interrupt.ts).
    ws.events.emit({ type: 'run.committing', run_id: runId });
    return { publish_seq: seq, published, unchanged, schema_changes: [...schemaChanges].map(([dataset, change]) => reported(dataset, change)) };
  });
}

/** `addModelColumns` for each model this publish writes, in dependency order; what each added. */
async function addColumnsOfModels(tx: Db, engine: Engine, ctx: RunContext, publishing: TaskRecord[]): Promise<Map<string, AppliedSchemaChange>> {
  const out = new Map<string, AppliedSchemaChange>();
  const datasets = new Set(publishing.map((t) => t.dataset));
  for (const name of ctx.ws.project.order) {
    const ds = ctx.ws.project.datasets.get(name)!;
    if (!datasets.has(name)) continue;
    const change = await addModelColumns(tx, engine, ctx.runId, ds);
    if (change) out.set(name, change);
  }
  return out;
}

/**
 * Everything a run published over all its publishes (a `--publish partition` run publishes once per
 * batch, and a re-issued one continues where it stopped): its versions, each with the one it
 * replaced, in publish order (datasets in dependency order, partitions ascending); how many of
 * its partitions were recomputed with unchanged content; and the columns its publishes added (read
 * from its audit records, which carry them: a batch that added columns may have been published by
 * an earlier attempt of the run).
 */
export async function publishedByRun(db: Db, engine: Engine, order: string[], runId: string): Promise<Omit<PublishResult, 'publish_seq'>> {
  const versions = stateTable(engine, 'versions');
  const rows = await db.query<{ dataset: string; partition: string; version: number; rows: number; checksum: string; prev_rows: number | null; prev_checksum: string | null }>(
    `SELECT v.dataset, v.partition, v.version, v.rows, v.checksum, p.rows AS prev_rows, p.checksum AS prev_checksum
     FROM ${versions} v LEFT JOIN ${versions} p ON p.dataset = v.dataset AND p.partition = v.partition AND p.version = v.version - 1
     WHERE v.run_id = $1`,
    [runId],
  );
  const rank = new Map(order.map((name, i) => [name, i]));
  rows.sort((a, b) => rank.get(a.dataset)! - rank.get(b.dataset)! || a.partition.localeCompare(b.partition));
  const published = rows.map((r) => {
    const version = Number(r.version);
    return {
      dataset: r.dataset,
      partition: r.partition,
      version_before: version > 1 ? version - 1 : null,
      version_after: version,
      rows_before: r.prev_rows === null ? null : Number(r.prev_rows),
      rows_after: Number(r.rows),
      checksum_before: r.prev_checksum === null ? null : String(r.prev_checksum),
      checksum_after: String(r.checksum),
    };
  });
  const [u] = await db.query<{ n: number }>(`SELECT count(*) AS n FROM ${stateTable(engine, 'tasks')} WHERE run_id = $1 AND status = 'unchanged'`, [runId]);
  const schema_changes = (await readAudit(db, engine, { runId })).flatMap((a) => {
    const change = (a.details as { schema_change?: AppliedSchemaChange } | null)?.schema_change;
    return change && a.dataset ? [reported(a.dataset, change)] : [];
  });
  return { published, unchanged: Number(u.n), schema_changes };
}

/** Whether any partition of the dataset has been published (its live table holds rows of other partitions). */
async function hasPartitions(tx: Db, engine: Engine, dataset: string): Promise<boolean> {
  return (await tx.query(`SELECT 1 AS found FROM ${stateTable(engine, 'partitions')} WHERE dataset = $1 LIMIT 1`, [dataset])).length > 0;
}

async function markTasks(tx: Db, engine: Engine, runId: string, dataset: string, tasks: TaskRecord[], status: string): Promise<void> {
  if (!tasks.length) return;
  // The partitions as one JSON parameter (engines/json-rows.ts): a long IN list of bound values is slow on DuckDB.
  await tx.exec(
    `UPDATE ${stateTable(engine, 'tasks')} SET status = $3 WHERE run_id = $1 AND dataset = $2 AND partition IN (SELECT r.partition FROM ${engine.dialect.jsonRows('$4', [{ name: 'partition', type: 'VARCHAR' }], 'r')})`,
    [runId, dataset, status, jsonRowsParam(tasks.map((t) => ({ partition: t.partition })))],
  );
}

/** Live columns of a dataset as stored (sources carry the file each row came from). */
export function storedColumns(ds: DatasetSpec, userColumns: ColumnInfo[]): ColumnInfo[] {
  return ds.kind === 'source' ? [...userColumns, { name: FILE_COLUMN, type: 'VARCHAR' }] : userColumns;
}

/** Replaces the partitions' live rows (the live table already has every staged column: addColumnsOfModels). */
async function replacePartitions(
  tx: Db,
  engine: Engine,
  ctx: RunContext,
  ds: DatasetSpec,
  keys: string[],
  prior: { replacesRows: boolean; datasetEmpty: boolean; wholeStaging: boolean; seq: number; toHistory: string[]; copiedAhead: number },
): Promise<void> {
  // A first load's rows are already in a table of their own: it becomes the live table (first-load.ts).
  if (prior.datasetEmpty && prior.wholeStaging && ctx.loadTables?.has(ds.name) && (await adoptLoadTable(tx, engine, ctx.runId, ds.name))) return;
  const d = engine.dialect;
  const live = liveTable(engine, ds.name);
  const staging = stagingTable(engine, ctx.runId, ds.name);
  const stagedCols = (await engine.columns(engine.stagingSchema, stagingName(ctx.runId, ds.name), tx))!.filter((c) => c.name !== PARTITION_COLUMN);
  const cols = stagedCols.map((c) => d.quote(c.name)).join(', ');
  // A dataset with published partitions has its live table (and history, once something was replaced with history kept).
  if (prior.datasetEmpty) await tx.exec(`CREATE TABLE IF NOT EXISTS ${live} (${stagedCols.map((c) => `${d.quote(c.name)} ${c.type}`).join(', ')})`);
  const history = historyTable(engine, ds.name);
  const historyCols = [...stagedCols, { name: REPLACED_SEQ_COLUMN, type: 'BIGINT' }];
  const pc = d.quote(ds.partitionColumn);
  const sorted = [...keys].sort();
  // Bounds let the engine skip untouched row groups; the key test picks the exact partitions.
  const lo = d.windowLiteral(windowOf(sorted[0], ds.grain).start, ds.grain);
  const hi = d.windowLiteral(windowOf(sorted[sorted.length - 1], ds.grain).end, ds.grain);
  const chosen = `(SELECT partition FROM ${stateTable(engine, 'tasks')} WHERE run_id = $1 AND dataset = $2 AND status = 'publishing')`;
  const inLive = (c: string) => `${c} >= ${lo} AND ${c} < ${hi} AND ${d.partitionKey(c, ds.grain)} IN ${chosen}`;
  const lc = `l.${pc}`;
  // Live rows exist only in partitions with a published version: when none of these has one, there is
  // nothing to move to history or delete (a first load skips two scans of the live table).
  // History rows are tagged with this publish (one constant): the replaced versions record it too.
  // Rows already copied ahead (history-copy.ts) are not copied again: `toHistory` are the others.
  if (prior.toHistory.length && keepsHistory(ctx)) {
    // Nothing copied ahead: every partition this publish replaces (new ones have no live rows).
    const which = prior.copiedAhead
      ? { sql: `${lc} >= ${lo} AND ${lc} < ${hi} AND ${d.partitionKey(lc, ds.grain)} IN (${prior.toHistory.map((_, i) => `$${i + 2}`).join(', ')})`, seq: '$1', params: [prior.seq, ...prior.toHistory] }
      : { sql: inLive(lc), seq: '$3', params: [ctx.runId, ds.name, prior.seq] };
    await tx.exec(`CREATE TABLE IF NOT EXISTS ${history} (${historyCols.map((c) => `${d.quote(c.name)} ${c.type}`).join(', ')})`);
    await tx.exec(
      `INSERT INTO ${history} (${historyCols.map((c) => d.quote(c.name)).join(', ')}) SELECT ${stagedCols.map((c) => `l.${d.quote(c.name)}`).join(', ')}, CAST(${which.seq} AS BIGINT) FROM ${live} l WHERE ${which.sql}`,
      which.params,
    );
  }
  if (prior.replacesRows) await tx.exec(`DELETE FROM ${live} WHERE ${inLive(pc)}`, [ctx.runId, ds.name]);
  // Checked before the insert: live now holds exactly the partitions this publish leaves alone.
  // Every staged partition going out needs no filter (on a view of files, a text key per row).
  const staged = prior.wholeStaging
    ? { sql: `${staging} WHERE TRUE`, params: [] }
    : { sql: `${staging} WHERE ${d.quote(PARTITION_COLUMN)} IN ${chosen}`, params: [ctx.runId, ds.name] };
  await checkKeysAcrossPartitions(tx, engine, ctx, ds, staged, prior.datasetEmpty);
  await tx.exec(`INSERT INTO ${live} (${cols}) SELECT ${cols} FROM ${staged.sql}`, staged.params);
}

/**
 * The versions this publish replaced whose rows were copied ahead: their history rows carry the
 * copy's tag, not this publish's sequence number (recordNewVersions wrote the latter).
 */
async function tagReplacedWithCopies(tx: Db, engine: Engine, seq: number, copies: HistoryCopy[]): Promise<void> {
  if (!copies.length) return;
  // One tag per attempt; the partitions as one JSON parameter (engines/json-rows.ts).
  const rows = engine.dialect.jsonRows('$3', [{ name: 'dataset', type: 'VARCHAR' }, { name: 'partition', type: 'VARCHAR' }], 'r');
  await tx.exec(
    `UPDATE ${stateTable(engine, 'versions')} AS v SET replaced_seq = CAST($1 AS BIGINT) FROM ${rows}
     WHERE v.replaced_seq = CAST($2 AS BIGINT) AND v.dataset = r.dataset AND v.partition = r.partition`,
    [copies[0].tag, seq, jsonRowsParam(copies.map((c) => ({ dataset: c.dataset, partition: c.partition })))],
  );
}

async function markReplacedNotRetained(tx: Db, engine: Engine, replaced: { dataset: string; partition: string; version: number }[]): Promise<void> {
  if (!replaced.length) return;
  const rows = engine.dialect.jsonRows('$1', [{ name: 'dataset', type: 'VARCHAR' }, { name: 'partition', type: 'VARCHAR' }, { name: 'version', type: 'INTEGER' }], 'r');
  await tx.exec(
    `UPDATE ${stateTable(engine, 'versions')} AS v SET retained = FALSE FROM ${rows}
     WHERE v.dataset = r.dataset AND v.partition = r.partition AND v.version = r.version`,
    [jsonRowsParam(replaced)],
  );
}

/**
 * Keys are unique within the live table. Staging validated the keys of each partition; this checks
 * the rest, before the staged rows go in (live then holds only the partitions left alone): the
 * staged partitions against each other, unless staging already checked them together
 * (`ctx.keysUniqueInStaging`), and against the other live partitions.
 *
 * Equal keys have equal first columns, so each part is first tried on ranges of the first key
 * column: staged partitions whose ranges do not overlap cannot share a key, nor can staged rows and
 * live rows outside their overall range. Keys that grow with the partitions (ids, timestamps) pass
 * there, at the cost of one column scan; otherwise an aggregate or a join finds the repeats. Like
 * the join, NULL keys never collide.
 */
async function checkKeysAcrossPartitions(
  tx: Db,
  engine: Engine,
  ctx: RunContext,
  ds: DatasetSpec,
  published: { sql: string; params: unknown[] },
  liveWasEmpty: boolean,
): Promise<void> {
  if (ds.key.includes(ds.partitionColumn)) return; // keys cannot collide across partitions
  const d = engine.dialect;
  const k = ds.key.map((c) => d.quote(c));
  const first = k[0];
  const { sql: staged, params } = published;
  const staging = stagingTable(engine, ctx.runId, ds.name);
  if (!ctx.keysUniqueInStaging?.has(ds.name)) {
    const [overlap] = await tx.query<{ n: number }>(
      `SELECT count(*) AS n FROM (
         SELECT lo, max(hi) OVER (ORDER BY lo ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS prev_hi
         FROM (SELECT min(${first}) AS lo, max(${first}) AS hi FROM ${staged} GROUP BY ${d.quote(PARTITION_COLUMN)}) r
       ) o WHERE lo <= prev_hi`,
      params,
    );
    if (Number(overlap.n) > 0) {
      const dups = await tx.query<Record<string, unknown>>(
        `SELECT ${k.join(', ')}, count(*) AS n FROM ${staged} AND ${k.map((c) => `${c} IS NOT NULL`).join(' AND ')} GROUP BY ${k.join(', ')} HAVING count(*) > 1 LIMIT 3`,
        params,
      );
      reportCrossPartitionDuplicates(ds, dups);
    }
  }
  if (liveWasEmpty) return;
  const live = liveTable(engine, ds.name);
  // The staged range as integer literals when the stager read it (digits only: BigInt text).
  const range = ctx.stagedKeyRanges?.get(ds.name);
  const [near] = range
    ? await tx.query<{ n: number }>(`SELECT count(*) AS n FROM ${live} WHERE ${first} >= ${range.lo.toString()} AND ${first} <= ${range.hi.toString()}`)
    : await tx.query<{ n: number }>(`SELECT count(*) AS n FROM ${live} WHERE ${first} >= (SELECT min(${first}) FROM ${staged}) AND ${first} <= (SELECT max(${first}) FROM ${staged})`, params);
  if (Number(near.n) === 0) return;
  // The join below is planned from statistics, which a just-filled staging table lacks (PostgreSQL
  // then guessed a nested loop: a minute for 14k × 40k rows).
  if (engine.analyze && !(await isView(tx, engine, engine.stagingSchema, stagingName(ctx.runId, ds.name)))) await engine.analyze(tx, staging);
  const rows = await tx.query<Record<string, unknown>>(
    `SELECT ${k.map((c) => `l.${c}`).join(', ')}, count(*) AS n FROM ${live} l
     JOIN (SELECT DISTINCT ${k.join(', ')} FROM ${staged}) s ON ${k.map((c) => `l.${c} = s.${c}`).join(' AND ')}
     GROUP BY ${k.map((c) => `l.${c}`).join(', ')} LIMIT 3`,
    params,
  );
  reportCrossPartitionDuplicates(ds, rows);
}

/** Staging is a view when its rows already sit somewhere stable (a restore's history rows, an ingest's files). */
async function isView(db: Db, engine: Engine, schema: string, name: string): Promise<boolean> {
  const rows = await db.query<{ t: string }>(`SELECT table_type AS t FROM information_schema.tables WHERE table_schema = $1 AND table_name = $2`, [schema, name]);
  return rows.some((r) => r.t.toUpperCase().includes('VIEW'));
}

function reportCrossPartitionDuplicates(ds: DatasetSpec, rows: Record<string, unknown>[]): void {
  if (!rows.length) return;
  const shown = rows.map((r) => `(${ds.key.map((c) => `${c}=${String(r[c])}`).join(', ')})`).join('; ');
  throw new TidemarkError('VALIDATION', `${ds.name}: key ${ds.key.join(', ')} would not be unique in the live table: ${shown} also exist(s) in other partitions`, {
    dataset: ds.name,
    hint: 'nothing was published; the same key appears in partitions outside this run (use `tidemark check` to inspect)',
  });
}
