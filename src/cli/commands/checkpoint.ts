/**
 * checkpoint show | validate | reset: the incremental state of a model, next to its data. Reset follows
 * describe → confirm → apply (Kafka's offset reset): the effect is printed first, --dry-run stops there.
 */
import type { Command } from 'commander';
import { planCheckpointReset, resetCheckpoint, showCheckpoint, validateCheckpoint, type CheckpointView, type ResetEffect } from '../../api/checkpoints.js';
import { requireReason } from '../../api/operations.js';
import { TidemarkError, usageError } from '../../errors.js';
import { confirm, print, printJson, withWorkspace } from '../context.js';
import { ranges, table } from '../render.js';
import { shellWord } from './core.js';

export function registerCheckpointCommands(program: Command): void {
  const checkpoint = program.command('checkpoint').description('incremental checkpoints: inspect, validate against the data, reset safely');

  checkpoint
    .command('show <dataset>')
    .description("an incremental model's checkpoint next to the data's max cursor")
    .action(async (dataset: string, _opts: unknown, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const v = await showCheckpoint(ws, dataset);
        if (g.json) return printJson(v);
        print(renderView(v));
      }),
    );

  checkpoint
    .command('validate <dataset>')
    .description('compare the checkpoint with the data: gaps, rows claimed but absent, duplicate keys, stale partitions; exit 4 on problems')
    .action(async (dataset: string, _opts: unknown, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const report = await validateCheckpoint(ws, dataset);
        if (g.json) printJson(report);
        else {
          print(renderView(report));
          print('');
          if (!report.findings.length) print('OK: the checkpoint agrees with the data.');
          for (const f of report.findings) {
            print(`${f.severity === 'problem' ? 'PROBLEM' : 'pending'} ${f.code}: ${f.message}${f.partitions.length ? ` [${ranges(f.partitions)}]` : ''}`);
            for (const [p, why] of Object.entries(f.reasons ?? {}).slice(0, 5)) print(`  ${p}: ${why.slice(0, 3).join('; ')}${why.length > 3 ? '; …' : ''}`);
          }
        }
        const problems = report.findings.filter((f) => f.severity === 'problem');
        if (problems.length) {
          throw new TidemarkError('CHECK_FAILED', `checkpoint of ${report.dataset} disagrees with its data: ${problems.map((p) => p.code).join(', ')}`, {
            dataset: report.dataset,
            hint: problems.some((p) => p.code === 'duplicate_keys')
              ? `inspect the duplicates with \`tidemark check ${report.dataset}\``
              : repairHint(report.dataset, problems.some((p) => p.code === 'behind') ? (report.checkpoint?.value ?? null) : report.data_max),
          });
        }
      }),
    );

  checkpoint
    .command('reset <dataset>')
    .description('move the checkpoint to VALUE and mark the partitions beyond it for replay by the next run (audited)')
    .option('--to <value>', 'the new checkpoint, in the cursor column type')
    .option('--reason <text>', 'why (required; recorded in the audit trail)')
    .option('--dry-run', 'print the effect; write nothing')
    .option('--yes', 'do not ask for confirmation')
    .action(async (dataset: string, f: { to?: string; reason?: string; dryRun?: boolean; yes?: boolean }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        // Only what writes is recorded, with its reason: a dry run needs none.
        if (!f.dryRun) requireReason(f.reason, 'checkpoint reset');
        if (f.to === undefined) throw usageError('checkpoint reset needs --to VALUE', `see the current mark and the data's max: tidemark checkpoint show ${dataset}`);
        const request = { dataset, to: f.to };
        const effect = await planCheckpointReset(ws, request);
        if (f.dryRun) {
          if (g.json) return printJson(effect);
          print(renderEffect(effect));
          print('Dry run: nothing was written.');
          return;
        }
        if (!g.json) print(renderEffect(effect));
        await confirm(`Reset the checkpoint of ${effect.dataset} to ${effect.to}?`, f.yes);
        // f.reason was required above (a dry run returned before this).
        const applied = await resetCheckpoint(ws, { ...request, reason: f.reason ?? '' });
        if (g.json) return printJson(applied);
        print(`Checkpoint of ${applied.dataset} reset to ${applied.to} (audit record ${applied.audit_seq}).`);
        if (applied.replay.length) print(`Next: \`tidemark run\` replays ${applied.replay.length} partition(s) as replacements and moves the checkpoint to the data's max.`);
      }),
    );
  for (const cmd of checkpoint.commands) cmd.exitOverride();
}

function renderView(v: CheckpointView): string {
  const cp = v.checkpoint;
  return [
    `${v.dataset}: cursor ${v.cursor_column}`,
    `  checkpoint: ${cp ? `${cp.value ?? 'NULL'} (publish ${cp.publish_seq}, ${cp.updated_at})` : '(none)'}`,
    `  data max:   ${v.data_max ?? '(no rows)'}`,
    `  beyond the checkpoint: ${v.rows_beyond} row(s) in ${v.beyond.length} partition(s)${v.beyond.length ? ` [${ranges(v.beyond.map((b) => b.partition))}]` : ''}`,
  ].join('\n');
}

function renderEffect(e: ResetEffect): string {
  const lines = [`Reset the checkpoint of ${e.dataset} (cursor ${e.cursor_column}): ${e.from ?? '(none)'} → ${e.to}; data max ${e.data_max ?? '(no rows)'}.`];
  if (!e.replay.length) lines.push('No rows lie beyond the new mark: nothing is replayed.');
  else {
    lines.push(`The next \`tidemark run\` replays (recomputes and replaces) ${e.replay.length} partition(s) holding ${e.rows_beyond} row(s) beyond the new mark:`, '');
    lines.push(table(e.replay.map((r) => ({ partition: r.partition, rows_beyond: r.rows }))));
  }
  if (e.protected.length) lines.push('', `Frozen or locked, so a routine run leaves them alone (backfill them explicitly): ${ranges(e.protected)}`);
  return lines.join('\n');
}

/**
 * The reset that repairs what validate found, with its value filled in: the data's maximum for a
 * mark that is ahead, missing or of another column (nothing is replayed), the current mark for rows
 * behind it (their partitions are replayed). At 2 a.m. the hint is the next command, not a template.
 */
function repairHint(dataset: string, value: string | null): string {
  const to = value === null ? 'VALUE' : shellWord(value);
  return `preview a repair: tidemark checkpoint reset ${dataset} --to ${to} --reason "…" --dry-run`;
}
