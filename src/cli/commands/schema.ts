/**
 * schema check: do a source's files (given, or all in the ingest manifest) map onto its current
 * schema, and can its live table take that schema (columns to add, or a change ingest refuses)?
 */
import type { Command } from 'commander';
import { schemaCheck, type SchemaCheckReport } from '../../api/schema.js';
import { TidemarkError } from '../../errors.js';
import { getDataset, type SourceSpec } from '../../config/project.js';
import { describeConflict, nonAdditiveError } from '../../execute/ingest-evolution.js';
import { describeFailures } from '../../execute/schema-adapt.js';
import { print, printJson, withWorkspace } from '../context.js';
import { table } from '../render.js';

export function registerSchemaCommands(program: Command): void {
  const schema = program.command('schema').description('source schema versions and adapters');
  schema
    .command('check <source> [files...]')
    .description('prove without writing that files (default: every ingested file still on disk) map onto the current schema, and that the live table can take it (columns the next ingest adds); exit 4 if not')
    .action(async (source: string, files: string[], _opts: unknown, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const report = await schemaCheck(ws, source, files);
        if (g.json) printJson(report);
        else print(renderReport(report));
        if (report.live_table && !report.live_table.additive) throw nonAdditiveError(getDataset(ws.project, source) as SourceSpec, report.live_table, 'CHECK_FAILED');
        if (!report.ok) {
          const bad = report.files.filter((f) => !f.ok);
          throw new TidemarkError('CHECK_FAILED', `${bad.length} of ${report.files.length} file(s) do not map onto the current schema of ${source}: ${bad[0].file}${bad.length > 1 ? ', …' : ''}`, {
            hint: checkFailedHint(bad, Boolean(g.json)),
          });
        }
      }),
    );
  for (const cmd of schema.commands) cmd.exitOverride();
}

/**
 * Only a file of unknown shape comes with a suggested history entry; a file that matched a version but
 * has values that do not cast, or that cannot be read, is fixed otherwise (its line says what is wrong).
 */
function checkFailedHint(bad: SchemaCheckReport['files'], json: boolean): string {
  if (bad.some((f) => f.suggestion)) return `declare the missing shape under schema.history (see ${json ? 'each file\'s suggestion' : 'the suggestion above'}), or fix the files`;
  return `fix the files (${json ? 'each file\'s error or failures say' : 'each is named above with'} what is wrong), or declare in schema.history how their values are read`;
}

function liveTableLine(r: SchemaCheckReport): string {
  const live = r.live_table;
  if (!live) return `Live table ${r.source}: not created yet (the first ingest creates it with the current columns).`;
  if (!live.additive) return `Live table ${r.source}: schema.current is not an additive change; ingest refuses it: ${describeConflict(live)}`;
  if (!live.added.length) return `Live table ${r.source}: has the current columns.`;
  return `Live table ${r.source}: the next ingest that publishes adds ${live.added.map((c) => `${c.name} ${c.type}`).join(', ')} (rows loaded before get NULL until their files are ingested again).`;
}

function renderReport(r: SchemaCheckReport): string {
  const lines = [`${r.source}: current schema is version ${r.current_version}; ${r.files.length} file(s) checked.`, ''];
  lines.push(table(r.versions.map((v) => ({ version: v.current ? `${v.version} (current)` : String(v.version), files: v.files, rows: v.rows }))));
  const bad = r.files.filter((f) => !f.ok);
  if (bad.length) {
    lines.push('', 'Files that do not map:');
    for (const f of bad) {
      lines.push(`  ${f.file}${f.version !== null ? ` (version ${f.version})` : ''}: ${f.error ?? describeFailures({ rows: f.rows, failures: f.failures })}`);
      if (f.suggestion) lines.push('    suggested history entry:', ...f.suggestion.split('\n').map((l) => `      ${l}`));
    }
  }
  if (r.missing_files.length) lines.push('', `Not checked (no longer on disk): ${r.missing_files.join(', ')}`);
  const reload = r.files.filter((f) => f.reload);
  if (reload.length) {
    lines.push('', `Loaded files now read through another schema mapping (their next ingest loads them again, e.g. to fill new columns): ${reload.length}`);
    lines.push(...reload.slice(0, 10).map((f) => `  ${f.file} (version ${f.version})`), ...(reload.length > 10 ? [`  … and ${reload.length - 10} more`] : []));
  }
  lines.push('', liveTableLine(r));
  lines.push('', bad.length ? `${bad.length} file(s) do not map onto the current schema.` : 'Every file maps onto the current schema.');
  return lines.join('\n');
}
