/** changes: the change feed an external incremental consumer follows with a publish-sequence cursor. */
import type { Command } from 'commander';
import { listChanges } from '../../api/changes.js';
import { usageError } from '../../errors.js';
import { print, printJson, withWorkspace } from '../context.js';
import { table } from '../render.js';

/** Parses a non-negative integer flag strictly: "12abc" or "1e3" is a usage error, not 12 or 1000. */
function parseSeq(value: string | undefined, flag: string, min: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)) || Number(value) < min) {
    throw usageError(`${flag} must be an integer ≥ ${min}, got '${value}'`, flag === '--since' ? 'pass 0 to read every publish, then the head_seq of the previous answer' : undefined);
  }
  return Number(value);
}

export function registerChangesCommands(program: Command): void {
  program
    .command('changes <dataset>')
    .description('publishes of a dataset after a publish sequence number: the feed for incremental consumers')
    .requiredOption('--since <seq>', 'publish sequence already consumed (0 = from the beginning)')
    .option('--limit <n>', 'stop after N changes, at the end of that publish (a publish is never split, so one larger than N comes whole); continue from head_seq')
    .action(async (dataset: string, opts: { since: string; limit?: string }, cmd: Command) => {
      const since = parseSeq(opts.since, '--since', 0)!;
      const limit = parseSeq(opts.limit, '--limit', 1);
      await withWorkspace(cmd, async (ws, g) => {
        const feed = await listChanges(ws, dataset, { since, limit });
        if (g.json) return printJson(feed);
        print(
          table(
            feed.changes.map((c) => ({
              seq: c.publish_seq,
              partition: c.partition,
              kind: c.kind,
              version: c.previous_version === null ? `v${c.version}` : `v${c.previous_version} → v${c.version}`,
              rows: c.rows,
              run_id: c.run_id,
              published_at: c.published_at,
              current: c.current ? '' : 'superseded',
            })),
          ),
        );
        print(`\n${feed.changes.length} change(s) after ${feed.since}; head ${feed.head_seq}${feed.truncated ? ' (more: pass --since ' + feed.head_seq + ')' : ''}. Next: tidemark changes ${feed.dataset} --since ${feed.head_seq}`);
      });
    });
}
