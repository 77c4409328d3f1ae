/** schema check: do a source's files (given, or all in the ingest manifest) map onto its current schema? */
import type { Command } from 'commander';
import { schemaCheck, type SchemaCheckReport } from '../../api/schema.js';
import { TidemarkError } from '../../errors.js';
import { describeFailures } from '../../execute/schema-adapt.js';
import { print, printJson, withWorkspace } from '../context.js';
import { table } from '../render.js';

export function registerSchemaCommands(program: Command): void {
  const schema = program.command('schema').description('source schema versions and adapters');
  schema
    .command('check <source> [files...]')
    .description('prove without writing that files (default: every ingested file still on disk) map onto the current schema; exit 4 if any does not')
    .action(async (source: string, files: string[], _opts: unknown, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const report = await schemaCheck(ws, source, files);
        if (g.json) printJson(report);
        else print(renderReport(report));
        if (!report.ok) {
          const bad = report.files.filter((f) => !f.ok);
          throw new TidemarkError('CHECK_FAILED', `${bad.length} of ${report.files.length} file(s) do not map onto the current schema of ${source}: ${bad[0].file}${bad.length > 1 ? ', …' : ''}`, {
            hint: 'declare the missing shape under schema.history (see the suggestion above), or fix the files',
          });
        }
      }),
    );
  for (const cmd of schema.commands) cmd.exitOverride();
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
  lines.push('', r.ok ? 'Every file maps onto the current schema.' : `${bad.length} file(s) do not map onto the current schema.`);
  return lines.join('\n');
}
