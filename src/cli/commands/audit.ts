/** audit log | verify | export | lineage: the tamper-evident trail (DESIGN.md failure mode 7). */
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { auditLog, chainBrokenError, exportAudit, lineage, verifyAudit } from '../../api/audit.js';
import { dataDriftError, describeRecorded, describeSealed, verifyData, type DataVerdict } from '../../api/audit-data.js';
import type { ChainVerdict } from '../../audit/chain.js';
import { usageError } from '../../errors.js';
import { print, printJson, withWorkspace, writeOut } from '../context.js';
import { ranges, table } from '../render.js';

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the tamper-evident audit trail: log, verify, export, lineage');

  audit
    .command('log')
    .description('audit records in sequence order')
    .option('--dataset <name>', 'only records about this dataset')
    .option('--since <time>', 'only records at or after this time (ISO, or a span such as 24h, 7d)')
    .option('--run <id>', 'only records of this run')
    .action(async (opts: { dataset?: string; since?: string; run?: string }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const records = await auditLog(ws, { dataset: opts.dataset, since: opts.since, runId: opts.run });
        if (g.json) return printJson(records);
        print(
          table(
            records.map((r) => ({
              seq: r.seq,
              at: r.at,
              actor: r.actor,
              action: r.action,
              dataset: r.dataset,
              partitions: ranges(r.partitions),
              reason: r.reason,
              run_id: r.run_id,
            })),
          ),
        );
      }),
    );

  audit
    .command('verify [datasets...]')
    .description('recompute the hash chain (exit 4 naming the first bad record); with --data also prove the live tables hold what was published')
    .option('--head <hash>', 'a head exported earlier (audit verify / audit export): also detects a truncated tail')
    .option('--data', "recompute every published partition's rows and checksum from the live table and compare with the recorded versions")
    .option('--from <key>', 'with --data: first partition to check (inclusive)')
    .option('--to <key>', 'with --data: last partition to check (inclusive)')
    .action(async (datasets: string[], opts: { head?: string; data?: boolean; from?: string; to?: string }, cmd: Command) => {
      if (!opts.data && (datasets.length || opts.from !== undefined || opts.to !== undefined)) {
        throw usageError('datasets, --from and --to select what --data checks', `tidemark audit verify --data ${datasets.join(' ') || 'DATASET'}${opts.from ? ` --from ${opts.from}` : ''}${opts.to ? ` --to ${opts.to}` : ''}`);
      }
      await withWorkspace(cmd, async (ws, g) => {
        const verdict = await verifyAudit(ws, { head: opts.head });
        if (!opts.data) {
          if (g.json) printJson(verdict);
          if (!verdict.ok) throw chainBrokenError(verdict);
          if (!g.json) print(`Audit chain intact: ${verdict.count} record(s), head ${verdict.head}`);
          return;
        }
        const data = await verifyData(ws, { datasets, from: opts.from, to: opts.to });
        if (g.json) printJson({ ok: verdict.ok && data.ok, chain: verdict, data });
        else print(renderDataVerdict(verdict, data));
        if (!verdict.ok) throw chainBrokenError(verdict);
        if (!data.ok) throw dataDriftError(ws.project, data);
      });
    });

  audit
    .command('export')
    .description('the whole chain as JSON lines, ending with the head hash to anchor outside Tidemark')
    .option('--format <format>', 'output format (jsonl)', 'jsonl')
    .option('--output <file>', 'write to this file instead of stdout')
    .action(async (opts: { format: string; output?: string }, cmd: Command) => {
      if (opts.format !== 'jsonl') throw usageError(`unknown export format '${opts.format}'`, 'available formats: jsonl');
      // Checked before reading the chain: a typo in the folder is a usage error, not a failed export.
      if (opts.output && !existsSync(path.dirname(path.resolve(opts.output)))) {
        throw usageError(`cannot write ${opts.output}: the folder ${path.dirname(path.resolve(opts.output))} does not exist`, 'create it first, or choose another --output');
      }
      await withWorkspace(cmd, async (ws, g) => {
        const exported = await exportAudit(ws);
        const text = exported.lines.map((l) => `${l}\n`).join('');
        if (!opts.output) return writeOut(text); // the client's stdout inside `tidemark serve`
        // Write then rename: a reader never sees half an export.
        const file = path.resolve(opts.output);
        const partial = `${file}.partial-${process.pid}`;
        writeFileSync(partial, text);
        renameSync(partial, file);
        if (g.json) printJson({ file, count: exported.count, head: exported.head });
        else print(`Exported ${exported.count} audit record(s) to ${file}; head ${exported.head}`);
      });
    });

  audit
    .command('lineage <dataset>')
    .description('every version of a partition: who, when, why, which run, built from which upstream versions')
    .requiredOption('--partition <key>', 'the partition (e.g. 2026-03-07)')
    .action(async (dataset: string, opts: { partition: string }, cmd: Command) =>
      withWorkspace(cmd, async (ws, g) => {
        const entries = await lineage(ws, dataset, opts.partition);
        if (g.json) return printJson(entries);
        print(`${dataset} ${entries[0].partition}: ${entries.length} version(s)`);
        print(
          table(
            entries.map((e) => ({
              version: e.replaced_at ? `v${e.version}` : `v${e.version} (live)`,
              kind: e.kind,
              at: e.published_at,
              actor: e.actor,
              reason: e.reason,
              run: `${e.run_kind ?? '?'} ${e.run_id}`,
              rows: e.rows,
              checksum: e.checksum.slice(0, 12),
              built_from: upstreamSummary(e.inputs),
            })),
          ),
        );
      }),
    );
}

/** `orders 2026-03-01..2026-03-07 (v1-v2)` per upstream dataset: a lookback window stays one line. */
function upstreamSummary(inputs: { dataset: string; partition: string; version: number }[]): string {
  if (!inputs.length) return '';
  const byDataset = new Map<string, { partition: string; version: number }[]>();
  for (const i of inputs) {
    let list = byDataset.get(i.dataset);
    if (!list) byDataset.set(i.dataset, (list = []));
    list.push(i);
  }
  return [...byDataset]
    .map(([ds, list]) => {
      const versions = [...new Set(list.map((l) => l.version))].sort((a, b) => a - b);
      const v = versions.length === 1 ? `v${versions[0]}` : `v${versions[0]}-v${versions[versions.length - 1]}`;
      if (list.length === 1) return `${ds} ${list[0].partition} ${v}`;
      return `${ds} ${ranges(list.map((l) => l.partition))} (${v})`;
    })
    .join('; ');
}

/** The chain's verdict, what was compared, and every partition whose live rows differ from the record. */
function renderDataVerdict(chain: ChainVerdict, data: DataVerdict): string {
  const lines = [chain.ok ? `Audit chain intact: ${chain.count} record(s), head ${chain.head}` : `Audit chain BROKEN at record ${chain.seq}: ${chain.message}`];
  const partitions = data.datasets.reduce((n, d) => n + d.partitions, 0);
  const rows = data.datasets.reduce((n, d) => n + d.rows, 0);
  lines.push(`Live data: ${partitions} published partition(s) of ${data.datasets.length} dataset(s) recomputed from ${rows} live row(s)`);
  if (data.ok) {
    lines.push('Every partition matches its recorded rows and checksum, as the audit trail sealed them; no rows outside the published partitions.');
    return lines.join('\n');
  }
  if (data.mismatches.length) {
    lines.push('', `${data.mismatches.length} partition(s) differ from their recorded version:`);
    lines.push(
      table(
        data.mismatches.map((m) => ({
          dataset: m.dataset,
          partition: m.partition,
          version: `v${m.version}`,
          problem: m.problem,
          stored_rows: m.stored_rows,
          live_rows: m.live_rows,
          stored_checksum: m.stored_checksum,
          live_checksum: m.live_checksum,
        })),
      ),
    );
  }
  if (data.unpublished.length) {
    lines.push('', `${data.unpublished.reduce((n, u) => n + u.rows, 0)} live row(s) fall in no published partition:`);
    lines.push(table(data.unpublished.map((u) => ({ dataset: u.dataset, partition: u.partition ?? '(NULL partition column)', rows: u.rows }))));
  }
  if (data.unaudited.length) {
    lines.push('', `${data.unaudited.length} partition record(s) differ from what the audit trail sealed:`);
    lines.push(
      table(
        data.unaudited.map((u) => ({
          dataset: u.dataset,
          partition: u.partition,
          recorded: describeRecorded(u),
          sealed: u.audited ? describeSealed(u.audited) : 'never published',
        })),
      ),
    );
  }
  return lines.join('\n');
}
