/** init, ingest, run, plan, backfill: the commands that build and rebuild partitions. */
import path from 'node:path';
import { mkdirSync } from 'node:fs';
import type { Command } from 'commander';
import { backfill, planBackfill, planRun, preflight, requireReason, run } from '../../api/operations.js';
import { getDataset, type Project } from '../../config/project.js';
import { usageError } from '../../errors.js';
import { scaffoldShopExample } from '../../example/shop.js';
import { ingest } from '../../execute/ingest.js';
import { assertNoBlockingGuards } from '../../execute/executor.js';
import { confirm, print, printJson, showPlan, withWorkspace } from '../context.js';
import { lastPartition, rangeFlags } from '../range-flags.js';
import { planJson, publishPerBatchNote, renderPlan, renderResult, resultJson } from '../render.js';
import { PUBLISH_MODES, type PublishMode } from '../../execute/run-context.js';
import { parseRate, parseWindow } from '../../scheduler/throttle.js';
import type { BackfillRequest } from '../../plan/build.js';
import { waitForConflictingRuns } from '../../scheduler/claims.js';
import type { GlobalOptions } from '../context.js';
import { enqueuePlan } from '../../workers/enqueue.js';
import { requireMultiWriter } from '../../workers/multi-writer.js';
import { requirePool } from '../../scheduler/pools.js';
import { blockingGuards } from '../../plan/types.js';

interface WriteFlags {
  reason?: string;
  yes?: boolean;
  dryRun?: boolean;
  maxParallel?: string;
  pool?: string;
  allowEmpty?: boolean;
  allowShrink?: boolean;
  /** Throttling (issue 7). */
  rate?: string;
  window?: string;
  /** `run` (default) or `partition` (run and backfill only). */
  publish?: string;
}

/** --wait also waits for runs in flight that hold the planned partitions (issue 7). */
function waitMs(g: GlobalOptions): number | null {
  if (g.wait === undefined || g.wait === false) return null;
  return g.wait === true ? 3_600_000 : Number(g.wait) * 1000;
}

export function parsePositiveInt(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw usageError(`${flag} must be a positive integer, got '${value}'`);
  return n;
}

export function parsePublishMode(value: string | undefined): PublishMode | undefined {
  if (value === undefined) return undefined;
  if (!(PUBLISH_MODES as readonly string[]).includes(value)) {
    throw usageError(`--publish must be ${PUBLISH_MODES.join(' or ')}, got '${value}'`, '--publish run (the default) publishes in one transaction; --publish partition publishes each batch as it is computed');
  }
  return value as PublishMode;
}

const PUBLISH_OPTION = ['--publish <mode>', 'run: one transaction at the end (default); partition: publish each batch as soon as it is computed (very large runs)'] as const;

function runOptions(f: WriteFlags) {
  return {
    publish: parsePublishMode(f.publish),
    reason: f.reason ?? '',
    dryRun: f.dryRun,
    maxParallel: parsePositiveInt(f.maxParallel, '--max-parallel'),
    pool: f.pool,
    allowEmpty: f.allowEmpty,
    allowShrink: f.allowShrink,
    rate: f.rate === undefined ? undefined : parseRate(f.rate),
    window: f.window === undefined ? undefined : parseWindow(f.window).text,
  };
}

export function registerCoreCommands(program: Command): void {
  program
    .command('init [dir]')
    .description('scaffold a project (--example shop ships generated data and models)')
    .option('--example <name>', 'example to scaffold', 'shop')
    .action(async (dir: string | undefined, opts: { example: string }, cmd: Command) => {
      const target = path.resolve(dir ?? '.');
      if (opts.example !== 'shop') throw usageError(`unknown example '${opts.example}'`, 'available examples: shop');
      mkdirSync(target, { recursive: true });
      await scaffoldShopExample(target);
      if (cmd.optsWithGlobals().json) printJson({ project: target, example: opts.example });
      // The folder as the user named it: `cd` works from where they typed it.
      else print(`Created ${target} from the ${opts.example} example.\nNext: ${dir === undefined ? '' : `cd ${shellWord(dir)} && `}tidemark ingest orders data/orders/*.csv && tidemark ingest fx_rates data/fx_rates/*.csv && tidemark run`);
    });

  program
    .command('ingest <source> <files...>')
    .description('load CSV, TSV, Parquet or NDJSON files (CSV, TSV and NDJSON may be gzipped) into a source, idempotently')
    .option('--reason <text>', 'why (recorded in the audit trail)')
    .option('--dry-run', 'show what would be loaded; write nothing')
    .option('--allow-empty', 'allow files to leave a partition empty')
    .option('--allow-shrink', 'allow files to shrink a partition beyond guards.max_shrink')
    .option('--schema-version <n>', 'read every file as this schema version instead of matching its shape')
    .option('--reload', 'read the files again even if unchanged, and republish partitions whose live rows were changed outside Tidemark')
    .action(async (source: string, files: string[], f: WriteFlags & { schemaVersion?: string; reload?: boolean }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const schemaVersion = parsePositiveInt(f.schemaVersion, '--schema-version');
        const result = await ingest(ws, source, files, { ...runOptions(f), reason: f.reason || undefined, schemaVersion, reload: f.reload });
        if (g.json) printJson({ ...resultJson(result), files: result.files, superseded: result.superseded, ...(result.schema_change ? { schema_change: result.schema_change } : {}) });
        else {
          const loaded = result.files.filter((x) => x.status !== 'unchanged').length;
          const remapped = result.files.filter((x) => x.status === 'remapped').length;
          const reloaded = result.files.filter((x) => x.status === 'reloaded').length;
          const why = [remapped ? `${remapped} unchanged but now read through another schema mapping` : '', reloaded ? `${reloaded} unchanged, read again (--reload)` : ''].filter(Boolean).join('; ');
          print(`${loaded} file(s) to load${why ? ` (${why})` : ''}, ${result.files.length - loaded} already loaded and unchanged.`);
          if (result.schema_change) {
            const cols = result.schema_change.added.map((c) => `${c.name} ${c.type}`).join(', ');
            print(`Schema change: ${result.status === 'dry_run' ? 'would add' : 'added'} ${cols} to the live table ${source} (rows loaded before get NULL until their files are ingested again).`);
          }
          print(renderResult(result));
          // A late file for an old day is the usual case: say what it made stale and what to type next.
          // Models never built are not stale, only missing (a first load): `run` builds them anyway.
          const built = result.status === 'published' && result.published.length ? await builtModels(ws, modelsReading(ws.project, source)) : [];
          const readers = built.length ? await plannedByRun(ws, built) : [];
          // Only new partitions (a new day): what reads them is not stale, it is still to be built.
          const restated = result.published.some((p) => p.version_before !== null);
          if (readers.length && restated) print(`Models that read ${source} are stale now where they read the changed partitions (${readers.join(', ')}): \`tidemark run\` rebuilds exactly those; \`tidemark run --dry-run\` lists them first.`);
          else if (readers.length) print(`Models that read ${source} have partitions to build for the new ones (${readers.join(', ')}): \`tidemark run\` builds them; \`tidemark run --dry-run\` lists them first.`);
          else if (built.length) print(`No model that reads ${source} has a partition to build or rebuild for them: a model partition exists only where every dataset it reads has data, and \`tidemark run\` leaves frozen and locked partitions alone.`);
          if (result.superseded.length) print(`Dismissed failed run(s) ${result.superseded.join(', ')}: the files they failed on were corrected and ingested again.`);
        }
      }),
    );

  program
    .command('run [datasets...]')
    .description('build missing partitions and rebuild stale ones, in dependency order')
    .option('--reason <text>', 'why (recorded in the audit trail)')
    .option('--dry-run', 'print the plan; write nothing')
    .option('--max-parallel <n>', 'partitions computed at once')
    .option('--pool <name>', 'resource pool (default production)')
    .option('--allow-empty', 'allow a partition that had rows to become empty')
    .option('--allow-shrink', 'allow a partition to shrink beyond guards.max_shrink')
    .option(...PUBLISH_OPTION)
    .action(async (datasets: string[], f: WriteFlags, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        if (f.pool) requirePool(ws.project.pools, f.pool); // before waiting for anything
        const opts = runOptions(f);
        // No --wait for runs in flight here: a run leaves their partitions to them (SKIPPED_IN_FLIGHT).
        const result = await run(ws, { datasets }, { ...opts, reason: f.reason || 'scheduled run: build missing and stale partitions' });
        const note = opts.publish === 'partition' ? `\n${publishPerBatchNote()}` : '';
        if (g.json) printJson(f.dryRun ? planJson(result.plan) : resultJson(result));
        else print(f.dryRun ? renderPlan(result.plan) + note + '\nDry run: nothing was written.' : renderResult(result));
      }),
    );

  program
    .command('plan <dataset>')
    .description('show what a backfill would rebuild: partitions per dataset, guards, estimated rows')
    .option('--from <date>', 'first partition (inclusive)')
    .option('--to <date>', 'last partition (inclusive)')
    .option('--last <span>', 'the last N partitions, e.g. 7d')
    .option('--downstream', 'include the exact partitions of dependents')
    .option('--include-recent', 'as backfill --include-recent')
    .option('--allow-full-refresh', 'as backfill --allow-full-refresh')
    .action(async (dataset: string, f: { from?: string; to?: string; last?: string; downstream?: boolean; includeRecent?: boolean; allowFullRefresh?: boolean }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const range = await rangeFlags(f, getDataset(ws.project, dataset).grain, () => lastPartition(ws, dataset));
        const plan = await planBackfill(ws, { dataset, ...range, downstream: f.downstream, includeRecent: f.includeRecent, allowFullRefresh: f.allowFullRefresh });
        // The plan is the real one: model SQL that would fail is reported now, not at 2 a.m.
        await preflight(ws, plan);
        if (g.json) printJson(planJson(plan));
        else print(renderPlan(plan));
      }),
    );

  program
    .command('backfill <dataset>')
    .description('rebuild exactly a range of partitions (and, with --downstream, exactly their dependents), atomically')
    .option('--from <date>', 'first partition (inclusive)')
    .option('--to <date>', 'last partition (inclusive)')
    .option('--last <span>', 'the last N partitions, e.g. 7d')
    .option('--reason <text>', 'why (required; recorded in the audit trail)')
    .option('--downstream', 'also rebuild the partitions of dependents that read the range')
    .option('--yes', 'do not ask for confirmation')
    .option('--dry-run', 'print the real plan; write nothing')
    .option('--max-parallel <n>', 'partitions computed at once')
    .option('--pool <name>', 'resource pool (default backfill)')
    .option('--rate <n/min>', 'start at most N partitions per minute (e.g. 30/min)')
    .option('--window <HH:MM-HH:MM>', 'run only inside this daily window, local time (e.g. 22:00-06:00); outside it the run stops starting tasks (a one-shot command on DuckDB waits with the project closed, then resumes)')
    .option('--include-recent', 'allow touching the newest protect.recent partitions')
    .option('--allow-full-refresh', 'allow rebuilding every partition or more than guards.max_backfill_partitions')
    .option('--allow-empty', 'allow a partition that had rows to become empty')
    .option('--allow-shrink', 'allow a partition to shrink beyond guards.max_shrink')
    .option('--detach', 'queue the run for `tidemark worker` processes, print its id and exit (PostgreSQL)')
    .option(...PUBLISH_OPTION)
    .action(async (dataset: string, f: WriteFlags & { from?: string; to?: string; last?: string; downstream?: boolean; includeRecent?: boolean; allowFullRefresh?: boolean; detach?: boolean }, cmd: Command) => {
      // Resolved once: if the backfill waits for its run window (withWorkspace runs the command again
      // when the window opens), `--last` still names the partitions the user confirmed.
      let range: { from: string; to: string } | undefined;
      await withWorkspace(cmd, async (ws, g) => {
        if (f.pool) requirePool(ws.project.pools, f.pool); // before the plan is shown and confirmed
        if (!f.dryRun) requireReason(f.reason, 'backfill'); // a dry run records nothing: no reason needed
        const opts = runOptions(f);
        const perBatch = opts.publish === 'partition';
        if (perBatch && f.detach) throw usageError('--publish partition cannot be combined with --detach: queued runs publish in one transaction', 'drop --detach, or --publish partition');
        // Before the plan is shown: a plan that cannot be queued on this engine is not worth reading.
        if (f.detach) requireMultiWriter(ws.engine, 'backfill --detach');
        range ??= await rangeFlags(f, getDataset(ws.project, dataset).grain, () => lastPartition(ws, dataset));
        const request: BackfillRequest = { dataset, ...range, downstream: f.downstream, includeRecent: f.includeRecent, allowFullRefresh: f.allowFullRefresh };
        let plan = await planBackfill(ws, request);
        const wait = waitMs(g);
        if (wait !== null && !f.dryRun) plan = await waitForConflictingRuns(() => planBackfill(ws, request), plan, { timeoutMs: wait, events: ws.events });
        const shown = () => (perBatch ? `${renderPlan(plan)}\n${publishPerBatchNote()}` : renderPlan(plan));
        // Everything the run checks before writing (model SQL, its output against the live table), checked
        // before the plan is shown, so the plan shows what that finds (a model gaining columns) and a dry
        // run cannot pass what the run refuses. A plan refused by a guard needs no check: its guards say why.
        // The run checks again before it writes: a confirmation may wait a long time.
        const checked = blockingGuards(plan).length ? null : await preflight(ws, plan).then(() => null, (error: unknown) => ({ error }));
        if (f.dryRun) {
          // With --json, a failing check's error object is the one answer, not a clean-looking plan beside
          // exit 4 (as `plan --json`); a person sees the plan, then why it would fail.
          if (checked && g.json) throw checked.error;
          if (g.json) printJson(planJson(plan));
          else print(shown());
          assertNoBlockingGuards(plan);
          if (checked) throw checked.error;
          if (!g.json) print('Dry run: nothing was written.');
          return;
        }
        assertNoBlockingGuards(plan);
        if (checked) throw checked.error;
        showPlan(g.json ? null : shown());
        await confirm(perBatch ? `Backfill ${plan.tasks.length} partition(s), publishing each batch as it is computed?` : `Backfill ${plan.tasks.length} partition(s)?`, f.yes);
        if (f.detach) {
          const queued = await enqueuePlan(ws, plan, opts);
          if (g.json) printJson(queued);
          else print(queued.run_id ? `Queued run ${queued.run_id} (${queued.tasks} task(s), pool ${queued.pool}). Follow it with \`tidemark runs\` or \`tidemark wait ${queued.run_id}\`.` : 'Nothing to do.');
          return;
        }
        const result = await backfill(ws, request, opts, plan);
        if (g.json) printJson(resultJson(result));
        else print(renderResult(result));
      });
    });
}

/** Models that read `dataset`, directly or through other models, in dependency order. */
function modelsReading(project: Project, dataset: string): string[] {
  const reading = new Set<string>([dataset]);
  for (const name of project.order) {
    const ds = project.datasets.get(name)!;
    if (ds.kind === 'model' && ds.upstream.some((u) => reading.has(u.dataset))) reading.add(name);
  }
  return project.order.filter((n) => n !== dataset && reading.has(n));
}

/**
 * Those of `models` that the next `tidemark run` builds or rebuilds partitions of: its real plan, so the
 * ingest names no model that has no partition for the new data (one that also reads a dataset with no
 * data for that day) and none whose stale partitions are frozen or locked.
 */
async function plannedByRun(ws: import('../../workspace.js').Workspace, models: string[]): Promise<string[]> {
  const planned = new Set((await planRun(ws)).tasks.map((t) => t.dataset));
  return models.filter((m) => planned.has(m));
}

async function builtModels(ws: import('../../workspace.js').Workspace, models: string[]): Promise<string[]> {
  const built = await Promise.all(models.map(async (m) => (await lastPartition(ws, m)) !== null));
  return models.filter((_, i) => built[i]);
}

/** A path as one POSIX shell word, quoted only when it needs to be, so a printed `cd …` can be pasted as is. */
export function shellWord(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
