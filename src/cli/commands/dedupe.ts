/** check and dedupe: find and repair duplicate keys. */
import type { Command } from 'commander';
import { checkDuplicates, dedupe, planDedupe } from '../../api/dedupe.js';
import { requireReason } from '../../api/operations.js';
import { TidemarkError, usageError } from '../../errors.js';
import { assertNoBlockingGuards } from '../../execute/executor.js';
import { confirm, print, printJson, showPlan, withWorkspace } from '../context.js';
import { planJson, ranges, renderPlan, renderResult, resultJson, table } from '../render.js';

export function registerDedupeCommands(program: Command): void {
  program
    .command('check <dataset>')
    .description('find duplicate keys in a dataset (exit 4 when there are any)')
    .action(async (dataset: string, _o: unknown, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const r = await checkDuplicates(ws, dataset);
        if (g.json) printJson(r);
        else if (r.duplicate_keys === 0) print(`${dataset}: key (${r.key.join(', ')}) is unique.`);
        else {
          print(`${dataset}: ${r.duplicate_keys} duplicated key(s), ${r.extra_rows} extra row(s), in partitions ${ranges(r.partitions)}`);
          print(table(r.examples));
          // Examples are the most repeated keys, not all of them: say how many the table leaves out.
          const more = r.duplicate_keys - r.examples.length;
          if (more > 0) print(`… and ${more} more duplicated key(s) (${r.examples.length} of ${r.duplicate_keys} shown, most repeated first)`);
        }
        if (r.duplicate_keys > 0) {
          throw new TidemarkError('CHECK_FAILED', `${dataset} has ${r.duplicate_keys} duplicated key(s) (${r.extra_rows} extra row(s))`, {
            hint: `tidemark dedupe ${dataset} --reason "…" --dry-run`,
          });
        }
      }),
    );

  program
    .command('dedupe <dataset>')
    .description('remove duplicate keys through the write path: new versions, old ones restorable, audited')
    .option('--reason <text>', 'why (required; recorded in the audit trail)')
    .option('--keep <first|last>', 'which row of a duplicated key survives, by --order-by', 'first')
    .option('--order-by <column>', 'column that orders duplicates (default: the partition column)')
    .option('--dry-run', 'print the plan; write nothing')
    .option('--yes', 'do not ask for confirmation')
    .option('--include-recent', 'allow touching the newest protect.recent partitions')
    .option('--allow-shrink', 'allow a partition to shrink beyond guards.max_shrink')
    .action(async (dataset: string, f: { reason?: string; keep: string; orderBy?: string; dryRun?: boolean; yes?: boolean; includeRecent?: boolean; allowShrink?: boolean }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        // Only what writes is recorded, with its reason: a dry run needs none.
        if (!f.dryRun) requireReason(f.reason, 'dedupe');
        if (f.keep !== 'first' && f.keep !== 'last') throw usageError(`--keep must be first or last, got '${f.keep}'`);
        const request = { dataset, keep: f.keep as 'first' | 'last', orderBy: f.orderBy, includeRecent: f.includeRecent };
        const { plan, report } = await planDedupe(ws, request);
        if (!plan.tasks.length) {
          if (g.json) printJson({ run_id: null, status: 'noop', published: [], unchanged: 0 });
          else print(`${dataset}: no duplicate keys; nothing to do.`);
          return;
        }
        if (g.json && f.dryRun) return printJson({ ...planJson(plan), duplicates: report });
        showPlan(g.json ? null : `${renderPlan(plan)}\n${report.extra_rows} row(s) will be removed (keeping the ${f.keep} by ${f.orderBy ?? 'partition column'}).`);
        assertNoBlockingGuards(plan);
        if (f.dryRun) return print('Dry run: nothing was written.');
        await confirm(`Dedupe ${plan.tasks.length} partition(s)?`, f.yes);
        // f.reason was required above (a dry run returned before this).
        const result = await dedupe(ws, request, { reason: f.reason ?? '', allowShrink: f.allowShrink }, plan);
        if (g.json) printJson(resultJson(result));
        else print(renderResult(result));
      }),
    );
}
