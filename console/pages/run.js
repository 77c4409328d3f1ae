// One run: what it was asked to do (its plan), its tasks, and what it changed — the diff as a chart of
// a chosen metric per partition, before and after, and as a table. A run that replaced versions can
// be undone from here (restore, with its own plan and confirmation).
import { useEffect, useState } from 'preact/hooks';
import { html, Card, ErrorBox, Loading, Progress, RunStatus, Badge, ActionButton, ReadOnlyHint, Empty } from '../parts/ui.js';
import { PlanView } from '../parts/plan-view.js';
import { PlannedActionConfirm, usePlannedAction } from '../parts/planned-action.js';
import { DiffChart } from '../parts/diff-chart.js';
import { fmtDelta, fmtInt, fmtNum, fmtTime, groupBy, shortHash } from '../parts/format.js';
import { useLive, useResource, useRunEvents } from '../api.js';
import { CancelButton, LiveLine, liveStatus } from './runs.js';

const ACTIVE = new Set(['planned', 'computing', 'cancelling', 'publishing']);
const CHANGED = new Set(['published', 'complete']);

/** A run in flight that this server's event feed does not follow (e.g. a worker's) is polled instead. */
const POLL_MS = 2000;

export function RunPage({ id }) {
  const live = useLive();
  // The run and its tasks are read again on each of its live events, as the progress bar moves.
  const runEvents = useRunEvents(id);
  const { data: run, error, reload } = useResource(`/api/runs/${encodeURIComponent(id)}`, [runEvents]);
  const followed = live.connected && live.runs.has(id);
  const polling = Boolean(run && ACTIVE.has(run.status) && !followed);
  useEffect(() => {
    if (!polling) return undefined;
    const timer = setInterval(reload, POLL_MS);
    return () => clearInterval(timer);
  }, [polling]);
  // Read once for the chart, the table and the restore form; only a run that published has one.
  const diff = useResource(CHANGED.has(run?.status) ? `/api/runs/${encodeURIComponent(id)}/diff` : null);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!run) return html`<${Loading} />`;
  const liveRun = live.runs.get(id);
  const status = liveStatus(run, liveRun);
  const active = ACTIVE.has(run.status);
  // As on the runs page and in `tidemark runs`: skipped tasks are done, failed ones are not (the Tasks card counts each status).
  const done = active && liveRun ? liveRun.done : run.tasks.filter((t) => !['pending', 'computing', 'failed'].includes(t.status)).length;

  return html`
    <div class="page-title">
      <h1 class="mono">${run.run_id}</h1>
      <${RunStatus} status=${status} interrupted=${run.interrupted && !liveRun} />
      <span class="muted">${run.kind} · pool ${run.pool}</span>
      <span class="spacer"></span>
      ${active ? html`<${CancelButton} runId=${run.run_id} />` : null}
    </div>
    <${Card} title="Summary">
      <dl class="details wide">
        <dt>Reason</dt><dd>${run.reason}</dd>
        <dt>Actor</dt><dd>${run.actor}</dd>
        <dt>Command</dt><dd class="mono">${run.command}</dd>
        <dt>Started</dt><dd>${fmtTime(run.created_at)}</dd>
        <dt>Published</dt><dd>${fmtTime(run.published_at)}</dd>
        ${run.error ? html`<dt>Error</dt><dd class="error-text">${run.error}</dd>` : null}
        <dt>Progress</dt>
        <dd class="progress-cell" data-testid="run-progress">
          <${Progress} done=${done} total=${active && liveRun ? liveRun.tasks : run.tasks.length} state=${status} />
          <${LiveLine} liveRun=${active ? liveRun : null} />
        </dd>
      </dl>
    <//>
    ${CHANGED.has(run.status) ? html`<${DiffCard} run=${run} diff=${diff} />` : null}
    ${run.plan ? html`<${Card} title="Plan"><${PlanView} plan=${storedPlan(run.plan)} /><//>` : null}
    <${TasksCard} tasks=${run.tasks} />
    ${CHANGED.has(run.status) && run.kind !== 'ingest' && diff.data ? html`<${RestoreCard} run=${run} diff=${diff.data} />` : null}
  `;
}

/**
 * The plan stored with the run, in the shape PlanView shows. It is stored compactly: `reasons` holds
 * one reason per task, in the order of the datasets' partitions.
 */
function storedPlan(plan) {
  let i = 0;
  const datasets = (plan.datasets ?? []).map((d) => ({
    dataset: d.dataset,
    partitions: d.partitions,
    reasons: Object.fromEntries(d.partitions.map((p) => [p, plan.reasons?.[i++] ?? ''])),
  }));
  return { datasets, guards: plan.guards ?? [], estimated_rows: plan.estimated_rows ?? 0 };
}

function TasksCard({ tasks }) {
  const [open, setOpen] = useState(tasks.length <= 12);
  const counts = [...groupBy(tasks, (t) => t.status)].map(([s, list]) => `${list.length} ${s}`).join(' · ');
  return html`<${Card} title="Tasks" actions=${html`<span class="muted" data-testid="task-counts">${counts}</span>${tasks.length > 12 ? html`<button class="btn btn-link" onClick=${() => setOpen(!open)}>${open ? 'Hide' : 'Show all'}</button>` : null}`}>
    ${open
      ? html`<table class="table compact" data-testid="tasks">
          <thead><tr><th>Dataset</th><th>Partition</th><th>Status</th><th class="num">Rows</th><th class="num">Attempts</th><th>Checksum</th><th>Error</th></tr></thead>
          <tbody>${tasks.map(
            (t) => html`<tr data-task=${`${t.dataset} ${t.partition}`} data-status=${t.status}><td>${t.dataset}</td><td class="mono">${t.partition}</td><td><${Badge} tone=${t.status === 'failed' ? 'bad' : t.status === 'pending' || t.status === 'computing' ? 'info' : 'ok'}>${t.status}<//></td><td class="num">${fmtInt(t.rows)}</td><td class="num">${t.attempts}</td><td class="mono">${shortHash(t.checksum)}</td><td class="error-text">${t.error ?? ''}</td></tr>`,
          )}</tbody>
        </table>`
      : html`<p class="muted">${tasks.length} tasks.</p>`}
  <//>`;
}

function DiffCard({ run, diff: { data: diff, error } }) {
  const [dataset, setDataset] = useState(null);
  const [metric, setMetric] = useState(null);
  if (error) return html`<${Card} title="Diff"><${ErrorBox} error=${error} /><//>`;
  if (!diff) return html`<${Card} title="Diff"><${Loading} what="Comparing versions" /><//>`;
  if (!diff.partitions.length) return html`<${Card} title="Diff"><${Empty}>This run published no changed partition.<//><//>`;

  const byDataset = groupBy(diff.partitions, (p) => p.dataset);
  const names = [...byDataset.keys()];
  const ds = dataset && byDataset.has(dataset) ? dataset : names.find((n) => (run.request?.dataset ?? '') === n) ?? names[0];
  const rows = byDataset.get(ds);
  const metrics = Object.keys(rows.find((p) => p.sums)?.sums ?? {});
  const m = metric && metrics.includes(metric) ? metric : mostChanged(rows, metrics);
  const totals = rows.reduce((t, p) => ({ before: t.before + Number(p.sums?.[m]?.before ?? 0), after: t.after + Number(p.sums?.[m]?.after ?? 0) }), { before: 0, after: 0 });

  return html`<${Card}
    title="Diff"
    className="diff-card"
    actions=${html`
      <label class="inline">Dataset <select data-testid="diff-dataset" value=${ds} onChange=${(e) => setDataset(e.target.value)}>${names.map((n) => html`<option value=${n}>${n} (${byDataset.get(n).length})</option>`)}</select></label>
      ${metrics.length ? html`<label class="inline">Metric <select data-testid="diff-metric" value=${m} onChange=${(e) => setMetric(e.target.value)}>${metrics.map((x) => html`<option value=${x}>${x}</option>`)}</select></label>` : null}
    `}
  >
    ${m
      ? html`<p class="diff-total">Total <code>${m}</code>: ${fmtNum(totals.before)} → <strong>${fmtNum(totals.after)}</strong> <span class=${totals.after - totals.before >= 0 ? 'delta-up' : 'delta-down'}>${fmtDelta(totals.before, totals.after)}</span></p>
          <div class="chart-wrap"><${DiffChart} partitions=${rows} metric=${m} /></div>`
      : html`<p class="muted">No numeric column to chart; see the table.</p>`}
    <table class="table compact" data-testid="diff-table">
      <thead><tr><th>Partition</th><th class="num">Version</th><th class="num">Rows</th><th class="num">Added</th><th class="num">Removed</th><th class="num">Changed</th>${m ? html`<th class="num">${m} before</th><th class="num">${m} after</th><th class="num">Δ</th>` : null}</tr></thead>
      <tbody>${rows.map(
        (p) => html`<tr>
          <td class="mono">${p.partition}</td>
          <td class="num">${p.version_before ?? 'new'} → ${p.version_after}</td>
          <td class="num">${fmtInt(p.rows_before)} → ${fmtInt(p.rows_after)}</td>
          <td class="num">${fmtInt(p.added)}</td><td class="num">${fmtInt(p.removed)}</td><td class="num">${fmtInt(p.changed)}</td>
          ${m ? html`<td class="num">${fmtNum(p.sums?.[m]?.before)}</td><td class="num">${fmtNum(p.sums?.[m]?.after)}</td><td class="num">${fmtDelta(p.sums?.[m]?.before, p.sums?.[m]?.after)}</td>` : null}
        </tr>${p.note ? html`<tr><td></td><td colspan="8" class="muted">${p.note}</td></tr>` : null}`,
      )}</tbody>
    </table>
  <//>`;
}

/** The metric whose total moved most relative to its size: what a reviewer wants to see first. */
function mostChanged(rows, metrics) {
  let best = metrics[0];
  let bestScore = -1;
  for (const m of metrics) {
    const before = rows.reduce((s, p) => s + Math.abs(Number(p.sums?.[m]?.before ?? 0)), 0);
    const moved = rows.reduce((s, p) => s + Math.abs(Number(p.sums?.[m]?.after ?? 0) - Number(p.sums?.[m]?.before ?? 0)), 0);
    const score = moved / (before || 1);
    if (score > bestScore) [best, bestScore] = [m, score];
  }
  return best;
}

function RestoreCard({ run, diff }) {
  const names = diff ? [...new Set(diff.partitions.filter((p) => p.version_before !== null).map((p) => p.dataset))] : [];
  const datasetOf = (f) => f.dataset || (names.includes(run.request?.dataset) ? run.request.dataset : names[0]);
  const action = usePlannedAction({
    initial: { dataset: '', downstream: true, reason: '' },
    planPath: '/api/plan/restore',
    actionPath: '/api/actions/restore',
    requestOf: (f) => ({ dataset: datasetOf(f), run: run.run_id, downstream: f.downstream }),
  });
  if (!names.length) return null;
  const { form, set, plan, busy } = action;
  const dataset = datasetOf(form);
  return html`<${Card} title="Undo this run (restore)">
    <${ReadOnlyHint} />
    <p class="muted">Brings back the versions this run replaced, as a new audited publish; a restore is itself undone by restoring its own run.</p>
    <form class="form" onSubmit=${action.review}>
      <div class="form-row">
        <label>Dataset <select value=${dataset} onChange=${(e) => set({ dataset: e.target.value })}>${names.map((n) => html`<option value=${n}>${n}</option>`)}</select></label>
        <label class="check"><input type="checkbox" checked=${form.downstream} onChange=${(e) => set({ downstream: e.target.checked })} /> Downstream: recompute dependents</label>
        <label class="grow">Reason <input data-testid="restore-reason" value=${form.reason} onInput=${(e) => set({ reason: e.target.value })} placeholder="why — recorded in the audit trail" /></label>
        <${ActionButton} kind="secondary" testid="review-restore" busy=${busy && !plan}>Review restore plan<//>
      </div>
      <${PlannedActionConfirm} action=${action} what="Restore" />
    </form>
  <//>`;
}
