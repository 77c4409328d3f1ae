/** history, diff, restore, lock, unlock, gc: retained versions and the protections around them. */
import type { Command } from 'commander';
import { requireReason } from '../../api/operations.js';
import { diffRun, gc, history, lock, planRestore, restore, totalSums, unlock, type PartitionDiff, type RestorePlan, type RunDiff } from '../../api/versions.js';
import { usageError } from '../../errors.js';
import { assertNoBlockingGuards } from '../../execute/executor.js';
import { confirm, print, printJson, showPlan, withWorkspace } from '../context.js';
import { planJson, ranges, renderPlan, renderResult, resultJson, table } from '../render.js';
import { parsePositiveInt } from './core.js';
import { requirePool } from '../../scheduler/pools.js';

interface RestoreFlags {
  run?: string;
  version?: string;
  asOf?: string;
  from?: string;
  to?: string;
  reason?: string;
  downstream?: boolean;
  yes?: boolean;
  dryRun?: boolean;
  includeRecent?: boolean;
  allowEmpty?: boolean;
  allowShrink?: boolean;
  maxParallel?: string;
  pool?: string;
}

interface RangeFlags {
  from?: string;
  to?: string;
  reason?: string;
}

export function registerVersionCommands(program: Command): void {
  letSubcommandsOwnVersionFlag(program);
  program
    .command('history <dataset>')
    .description('every version of a dataset\'s partitions: run, actor, reason, rows, checksum, time, kind, retained')
    .option('--partition <key>', 'only this partition')
    .action(async (dataset: string, f: { partition?: string }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const rows = await history(ws, dataset, { partition: f.partition });
        if (g.json) return printJson(rows);
        print(
          table(
            rows.map((r) => ({
              partition: r.partition,
              version: r.version,
              kind: r.kind,
              rows: r.rows,
              checksum: r.checksum.slice(0, 12),
              run_id: r.run_id,
              actor: r.actor,
              published_at: r.published_at,
              held: r.current ? 'live' : r.retained ? 'history' : 'removed',
              reason: r.reason,
            })),
          ),
        );
      }),
    );

  program
    .command('diff <run>')
    .description('before/after of every partition a run changed: rows, checksums, keys added/removed/changed, numeric sums')
    .option('--dataset <name>', 'only this dataset')
    .action(async (runId: string, f: { dataset?: string }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const d = await diffRun(ws, runId, { dataset: f.dataset });
        if (g.json) return printJson(d);
        print(renderDiff(d));
      }),
    );

  program
    .command('restore <dataset>')
    .description('bring back retained versions as a new, audited publish (same guards and confirmation as backfill)')
    .option('--run <id>', 'restore the versions this run replaced (undoes it; a restore is undone by restoring its own run)')
    .option('--version <n>', 'restore version N of each partition in --from..--to')
    .option('--as-of <time>', 'restore the versions live at this time (ISO, UTC unless a zone is given)')
    .option('--from <date>', 'first partition (inclusive)')
    .option('--to <date>', 'last partition (inclusive)')
    .option('--reason <text>', 'why (required; recorded in the audit trail)')
    .option('--downstream', 'also recompute the partitions of dependents that read the restored ones')
    .option('--yes', 'do not ask for confirmation')
    .option('--dry-run', 'print the real plan; write nothing')
    .option('--include-recent', 'allow touching the newest protect.recent partitions')
    .option('--allow-empty', 'allow restoring an empty version over a partition that has rows')
    .option('--allow-shrink', 'allow a restore that shrinks a partition beyond guards.max_shrink')
    .option('--max-parallel <n>', 'dependent partitions computed at once')
    .option('--pool <name>', 'resource pool (default backfill)')
    .action(async (dataset: string, f: RestoreFlags, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        if (f.pool) requirePool(ws.project.pools, f.pool); // before the plan is shown and confirmed
        // Only what writes is recorded, with its reason: a dry run needs none.
        if (!f.dryRun) requireReason(f.reason, 'restore');
        const request = {
          dataset,
          run: f.run,
          version: f.version === undefined ? undefined : parsePositiveInt(f.version, '--version'),
          asOf: f.asOf,
          from: f.from,
          to: f.to,
          downstream: f.downstream,
          includeRecent: f.includeRecent,
        };
        const planned = await planRestore(ws, request);
        if (f.dryRun) {
          if (g.json) printJson(restorePlanJson(planned));
          else print(`${renderRestorePlan(planned)}\nDry run: nothing was written.`);
          return;
        }
        assertNoBlockingGuards(planned.plan);
        const shown = g.json ? null : renderRestorePlan(planned);
        showPlan(shown);
        if (planned.plan.tasks.length) await confirm(`Restore ${planned.sources.length} partition(s)?`, f.yes);
        // f.reason was required above (a dry run returned before this).
        const options = { reason: f.reason ?? '', maxParallel: parsePositiveInt(f.maxParallel, '--max-parallel'), pool: f.pool, allowEmpty: f.allowEmpty, allowShrink: f.allowShrink };
        const result = await restore(ws, request, options, planned);
        if (g.json) printJson({ ...resultJson(result), restored: planned.sources, already_current: planned.already_current, not_restorable: planned.not_restorable });
        else print(result.status === 'noop' ? 'Nothing to restore.' : renderResult(result));
      }),
    );

  program
    .command('lock <dataset>')
    .description('protect a range of partitions from every write until unlocked')
    .option('--from <date>', 'first partition (inclusive)')
    .option('--to <date>', 'last partition (inclusive)')
    .option('--reason <text>', 'why (required; recorded in the audit trail)')
    .action(async (dataset: string, f: RangeFlags, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const range = requireRange(f, 'lock');
        const r = await lock(ws, { dataset, ...range, reason: f.reason ?? '' });
        if (g.json) return printJson({ ...r.lock, created: r.created });
        print(r.created ? `Locked ${dataset} ${r.lock.from_key}..${r.lock.to_key} (${r.lock.lock_id}).` : `${dataset} ${r.lock.from_key}..${r.lock.to_key} was already locked by ${r.lock.actor} (${r.lock.reason}); nothing changed.`);
      }),
    );

  program
    .command('unlock <dataset>')
    .description('remove the locks of a dataset that lie within a range')
    .option('--from <date>', 'first partition (inclusive)')
    .option('--to <date>', 'last partition (inclusive)')
    .option('--reason <text>', 'why (required; recorded in the audit trail)')
    .action(async (dataset: string, f: RangeFlags, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        requireReason(f.reason, 'unlock');
        const range = requireRange(f, 'unlock');
        const r = await unlock(ws, { dataset, ...range, reason: f.reason });
        if (g.json) return printJson(r);
        for (const l of r.removed) print(`Unlocked ${dataset} ${l.from_key}..${l.to_key} (locked by ${l.actor}: ${l.reason}).`);
        // A lock wider than the range stays: say so, or the range looks writable when it is not.
        for (const l of r.still_locked) {
          print(`Still locked: ${dataset} ${l.from_key}..${l.to_key} (locked by ${l.actor}: ${l.reason}) covers part of ${range.from}..${range.to}; unlock it whole: tidemark unlock ${dataset} --from ${l.from_key} --to ${l.to_key} --reason "…"`);
        }
      }),
    );

  program
    .command('gc')
    .description('apply the retention policy to history and drop staging no run will resume')
    .option('--reason <text>', 'why (required unless --dry-run; recorded in the audit trail)')
    .option('--dry-run', 'report what would be freed; change nothing')
    .option('--all-staging', 'also drop the staging of the latest failed attempt of each command (it will recompute)')
    .action(async (f: { reason?: string; dryRun?: boolean; allStaging?: boolean }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        // Removing retained versions cannot be undone: it needs a reason like every other destructive write.
        if (!f.dryRun) requireReason(f.reason, 'gc');
        const r = await gc(ws, { reason: f.reason, dryRun: f.dryRun, allStaging: f.allStaging });
        if (g.json) return printJson(r);
        const verb = r.dry_run ? 'Would free' : 'Freed';
        const copies = r.history_copies_dropped.length
          ? `; ${r.history_copies_dropped.reduce((n, c) => n + c.partitions, 0)} partition(s) copied ahead by runs not in flight (${r.history_copies_dropped.reduce((n, c) => n + c.rows, 0)} history row(s))`
          : '';
        print(`${verb}: ${r.versions_removed.length} version(s) beyond retention (${r.history_rows_removed} history row(s)); ${r.staging_dropped.length} staging table(s) (${r.staging_rows_removed} row(s))${copies}.`);
        print(`Policy: keep the newest ${r.policy.versions} replaced version(s) per partition and anything replaced within ${r.policy.days} day(s).`);
        const byDs = new Map<string, string[]>();
        for (const v of r.versions_removed) byDs.set(v.dataset, [...(byDs.get(v.dataset) ?? []), `${v.partition} v${v.version}`]);
        for (const [ds, list] of byDs) print(`  ${ds}: ${list.length <= 8 ? list.join(', ') : `${list.slice(0, 6).join(', ')}, … (${list.length})`}`);
        for (const s of r.staging_dropped) {
          const whose = s.file_table ? 'files loaded by a process that is gone' : `run ${s.run_id}, ${s.run_status ?? 'unknown run'}`;
          print(`  staging ${s.schema}.${s.table} (${whose}, ${s.rows} rows)`);
        }
        for (const c of r.history_copies_dropped) print(`  history copied ahead for ${c.dataset} by run ${c.run_id} (${c.run_status ?? 'unknown run'}): ${c.partitions} partition(s), ${c.rows} rows`);
        if (r.datasets_skipped.length) print(`Kept: history of ${r.datasets_skipped.join(', ')}, no longer in the project file (declare the dataset again to apply retention to it).`);
        if (r.dry_run) print('Dry run: nothing was changed.');
      }),
    );
}

/**
 * `restore --version N` names a partition version, but the root program has `--version` too (print
 * Tidemark's version), and commander recognises root options anywhere on the line, so it would
 * print the version and exit. While parsing a line that names a subcommand, the root's --version is
 * set aside so the subcommand's own option gets it; a bare `tidemark --version` is unaffected.
 */
function letSubcommandsOwnVersionFlag(program: Command): void {
  const parse = program.parseOptions.bind(program);
  const isSubcommand = (arg: string) => program.commands.some((c) => c.name() === arg || c.aliases().includes(arg));
  program.parseOptions = (args: string[]) => {
    const options = program.options as Command['options'][number][];
    const at = options.findIndex((o) => o.long === '--version');
    if (at < 0 || !args.some(isSubcommand)) return parse(args);
    const [versionOption] = options.splice(at, 1);
    try {
      return parse(args);
    } finally {
      options.splice(at, 0, versionOption);
    }
  };
}

function requireRange(f: RangeFlags, command: string): { from: string; to: string } {
  if (!f.from || !f.to) throw usageError(`${command} needs --from and --to (inclusive partition keys)`, `tidemark ${command} DATASET --from 2026-03-01 --to 2026-03-31 --reason "…"`);
  return { from: f.from, to: f.to };
}

function restorePlanJson(p: RestorePlan): Record<string, unknown> {
  return { ...planJson(p.plan), restored: p.sources, already_current: p.already_current, not_restorable: p.not_restorable };
}

function renderRestorePlan(p: RestorePlan): string {
  // Nothing to restore is not "up to date": the lines below say which partitions could not be restored and why.
  const empty = p.not_restorable.length ? 'nothing to restore (see below)' : p.already_current.length ? 'nothing to restore: every partition already holds that version' : 'nothing to restore';
  const lines = [renderPlan(p.plan, empty)];
  const byVersion = new Map<string, string[]>();
  for (const s of p.sources) {
    const label = `version ${s.version} (run ${s.run_id}) replacing version ${s.current_version}`;
    byVersion.set(label, [...(byVersion.get(label) ?? []), s.partition]);
  }
  for (const [label, keys] of byVersion) lines.push(`  restores ${ranges(keys)}: ${label}`);
  if (p.already_current.length) lines.push(`  already current (left as they are): ${ranges(p.already_current.map((x) => x.partition))}`);
  for (const n of p.not_restorable) lines.push(`  not restorable: ${n.partition}: ${n.why}`);
  return lines.join('\n');
}

function renderDiff(d: RunDiff): string {
  const lines = [`Run ${d.run_id} (${d.kind}, ${d.status}) by ${d.actor}: "${d.reason}" — ${d.partitions.length} partition(s) changed`];
  const datasets = [...new Set(d.partitions.map((p) => p.dataset))];
  for (const ds of datasets) {
    const mine = d.partitions.filter((p) => p.dataset === ds);
    lines.push('', `${ds}: ${mine.length} partition(s): ${ranges(mine.map((p) => p.partition))}`);
    const metrics = Object.keys(mine.find((p) => p.sums)?.sums ?? {});
    lines.push(
      table(
        mine.map((p: PartitionDiff) => ({
          partition: p.partition,
          version: `${p.version_before ?? '-'} → ${p.version_after}`,
          rows: `${p.rows_before ?? '-'} → ${p.rows_after}`,
          checksum: `${p.checksum_before?.slice(0, 12) ?? '-'} → ${p.checksum_after.slice(0, 12)}`,
          added: p.added ?? '?',
          removed: p.removed ?? '?',
          changed: p.changed ?? '?',
          ...Object.fromEntries(metrics.map((m) => [m, p.sums?.[m] ? `${p.sums[m].before ?? '-'} → ${p.sums[m].after ?? '-'}` : '?'])),
        })),
      ),
    );
    // Partitions whose rows are gone (retention) have no sums: a total over the others must say so,
    // or it reads as the whole run's change.
    const summed = mine.filter((p) => p.sums).length;
    const over = summed < mine.length ? ` (over ${summed} of ${mine.length} partitions; the others have no rows to sum, see the notes)` : '';
    for (const [m, t] of Object.entries(totalSums(mine))) {
      const pct = t.before ? ` (${((100 * (t.after - t.before)) / t.before).toFixed(1)}%)` : '';
      lines.push(`  total ${m}: ${t.before} → ${t.after}${pct}${over}`);
    }
    for (const p of mine.filter((x) => x.note)) lines.push(`  note ${p.partition}: ${p.note}`);
  }
  return lines.join('\n');
}
