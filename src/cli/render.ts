/** Human rendering of results; JSON output is produced by the commands from the same data. */
import type { Guard } from '../core/guards.js';
import type { RunResult } from '../execute/executor.js';
import type { Plan } from '../plan/types.js';

export function table(rows: Record<string, unknown>[], columns?: string[]): string {
  if (!rows.length) return '(none)';
  const cols = columns ?? Object.keys(rows[0]);
  const text = rows.map((r) => cols.map((c) => formatCell(r[c])));
  // A loop, not Math.max(...cells): spreading a large result (a `query` of 200,000 rows) overflows the stack.
  const widths = cols.map((c, i) => text.reduce((w, t) => Math.max(w, t[i].length), c.length));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd();
  return [line(cols), line(widths.map((w) => '-'.repeat(w))), ...text.map(line)].join('\n');
}

function formatCell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/** Compresses a sorted key list into ranges: 2026-03-01..2026-03-07, 2026-03-09. */
export function ranges(keys: string[]): string {
  if (!keys.length) return '';
  const out: string[] = [];
  let start = keys[0];
  let prev = keys[0];
  const next = (k: string) => {
    const d = new Date(`${k.length === 13 ? `${k}:00:00` : k}${k.length === 10 ? 'T00:00:00' : ''}Z`);
    if (k.length === 13) d.setUTCHours(d.getUTCHours() + 1);
    else if (k.endsWith('-01') && keys.every((x) => x.endsWith('-01'))) d.setUTCMonth(d.getUTCMonth() + 1);
    else d.setUTCDate(d.getUTCDate() + 1);
    const iso = d.toISOString();
    return k.length === 13 ? iso.slice(0, 13) : iso.slice(0, 10);
  };
  for (const k of keys.slice(1)) {
    if (k === next(prev)) {
      prev = k;
      continue;
    }
    out.push(start === prev ? start : `${start}..${prev}`);
    start = prev = k;
  }
  out.push(start === prev ? start : `${start}..${prev}`);
  return out.join(', ');
}

export function renderGuards(guards: Guard[]): string[] {
  return guards.map((g) => `  ${g.blocking ? 'REFUSED' : 'note'} [${g.code}] ${g.message}\n    → ${g.hint}`);
}

/** `empty`: the line for a plan with no task (a restore with nothing to restore says so, not "up to date"). */
export function renderPlan(plan: Plan, empty = 'nothing to do: every partition is up to date'): string {
  const lines: string[] = [];
  const total = plan.tasks.length;
  // An ingest plan reads only the files' partition keys, not their rows: no estimate rather than "~0 rows".
  const rows = plan.kind === 'ingest' ? '' : `, ~${plan.estimated_rows.toLocaleString('en-US')} rows`;
  lines.push(`Plan: ${plan.kind} of ${plan.targets.join(', ') || 'all models'} — ${total} partition(s) in ${plan.datasets.length} dataset(s)${rows}`);
  for (const d of plan.datasets) {
    const reasons = new Map<string, number>();
    for (const t of plan.tasks.filter((x) => x.dataset === d.dataset)) reasons.set(t.reason, (reasons.get(t.reason) ?? 0) + 1);
    const why = [...reasons].map(([r, n]) => `${n} ${r}`).join(', ');
    lines.push(`  ${d.dataset.padEnd(20)} ${String(d.partitions.length).padStart(5)}  ${ranges(d.partitions)}  (${why})`);
  }
  if (!total) lines.push(`  ${empty}`);
  if (plan.guards.length) {
    lines.push('Guards:');
    lines.push(...renderGuards(plan.guards));
  } else if (total) lines.push('Guards: none apply');
  return lines.join('\n');
}

/**
 * Printed under the plan of a `--publish partition` run (and asked in its confirmation): it does not
 * publish in one transaction, so readers may see a mix of old and new partitions while it runs.
 */
export function publishPerBatchNote(): string {
  return 'Publish: per batch (--publish partition): each batch is live as soon as it is computed; readers may see a mix of old and new partitions until the run ends.';
}

export function planJson(plan: Plan): Record<string, unknown> {
  return {
    kind: plan.kind,
    datasets: plan.datasets.map((d) => ({
      dataset: d.dataset,
      partitions: d.partitions,
      reasons: Object.fromEntries(plan.tasks.filter((t) => t.dataset === d.dataset).map((t) => [t.partition, t.reason])),
    })),
    guards: plan.guards.map(({ code, dataset, partitions, message, hint, blocking }) => ({ code, dataset, partitions, message, hint, blocking })),
    estimated_rows: plan.estimated_rows,
  };
}

export function resultJson(r: RunResult): Record<string, unknown> {
  return {
    run_id: r.run_id,
    status: r.status,
    published: r.published.map((p) => ({
      dataset: p.dataset,
      partition: p.partition,
      version_before: p.version_before,
      version_after: p.version_after,
      rows_before: p.rows_before,
      rows_after: p.rows_after,
      checksum_before: p.checksum_before,
      checksum_after: p.checksum_after,
    })),
    unchanged: r.unchanged,
    reused: r.reused,
    skipped: r.skipped,
    // Models whose live table gained columns (on_schema_change: add_columns), and how many recorded checksums were recomputed.
    ...(r.schema_changes ? { schema_changes: r.schema_changes } : {}),
    // Nothing published because a run killed after its publish (before it reported) had done it.
    ...(r.already_published_by ? { already_published_by: r.already_published_by } : {}),
    // Failed runs of the same `tidemark run` this one left nothing to resume: dismissed from status.
    ...(r.superseded ? { superseded: r.superseded } : {}),
    // What the plan noted but did not refuse: stale partitions left because they are protected,
    // dependents a backfill without --downstream left stale.
    notices: r.plan.guards.filter((g) => !g.blocking).map((g) => ({ code: g.code, dataset: g.dataset, partitions: g.partitions, message: g.message })),
  };
}

export function renderResult(r: RunResult): string {
  if (r.status === 'noop') {
    const notes = r.plan.guards.filter((g) => !g.blocking);
    const head = notes.length ? ['Nothing was rebuilt.', ...renderGuards(notes)] : ['Nothing to do: every partition is up to date.'];
    return [...head, ...renderAlreadyPublished(r), ...renderSuperseded(r)].join('\n');
  }
  if (r.status === 'dry_run') return `${renderPlan(r.plan)}\nDry run: nothing was written.`;
  const lines = [`Run ${r.run_id} published: ${r.published.length} partition(s) changed, ${r.unchanged} unchanged${r.skipped ? `, ${r.skipped} dependent(s) skipped (inputs unchanged)` : ''}${r.reused ? `, ${r.reused} reused from an earlier attempt` : ''}.`];
  const byDs = new Map<string, string[]>();
  for (const p of r.published) byDs.set(p.dataset, [...(byDs.get(p.dataset) ?? []), p.partition]);
  for (const [ds, keys] of byDs) lines.push(`  ${ds.padEnd(20)} ${String(keys.length).padStart(5)}  ${ranges(keys.sort())}`);
  for (const c of r.schema_changes ?? []) {
    const n = c.checksums_recomputed;
    lines.push(`Schema change: added ${c.added.map((x) => `${x.name} ${x.type}`).join(', ')} to the live table ${c.dataset} (NULL in the rows of other partitions; ${n.current + n.replaced} recorded checksum(s) recomputed over the new columns).`);
  }
  const leftStale = r.plan.guards.filter((g) => g.code === 'DEPENDENTS_LEFT_STALE').map((g) => g.dataset);
  if (leftStale.length && r.published.length) {
    lines.push(`Dependents that read the changed partitions are stale now (${leftStale.join(', ')}): \`tidemark run\` rebuilds exactly those; \`tidemark status\` lists them.`);
  }
  // What a run left as it is: protected partitions, and partitions another run in flight is rebuilding.
  lines.push(...renderGuards(r.plan.guards.filter((g) => g.code === 'SKIPPED_PROTECTED' || g.code === 'SKIPPED_IN_FLIGHT')));
  lines.push(...renderAlreadyPublished(r));
  lines.push(...renderSuperseded(r));
  return lines.join('\n');
}

/** Names the failed runs of the same `tidemark run` it dismissed: `status` no longer lists them. */
function renderSuperseded(r: RunResult): string[] {
  if (!r.superseded?.length) return [];
  return [`Dismissed failed run(s) ${r.superseded.join(', ')}: this run left them nothing to resume (\`tidemark runs\` shows them cancelled).`];
}

/** Names the earlier run(s) that published what a re-issued command found nothing left to publish in. */
function renderAlreadyPublished(r: RunResult): string[] {
  return (r.already_published_by ?? []).map(
    (e) => `Already published by run ${e.run_id} (${e.kind}${e.published_at ? `, ${e.published_at}` : ''}: ${e.datasets.join(', ')}), whose process stopped before it finished (killed, or stopped by a signal after its commit); \`tidemark diff ${e.run_id}\` shows what it changed.`,
  );
}
