// Runs: the stored list, with the live progress of runs in flight (server-sent events) laid over it —
// including a run that waits outside its window or is throttled to a rate.
import { useState } from 'preact/hooks';
import { html, Card, ErrorBox, Loading, Progress, RunStatus, Badge, ActionButton } from '../parts/ui.js';
import { fmtTime } from '../parts/format.js';
import { post, useLive, useResource } from '../api.js';

const ACTIVE = new Set(['planned', 'computing', 'cancelling', 'publishing']);

/** The status to show: the stored one, or the live one while the run moves. */
export function liveStatus(run, liveRun) {
  if (!liveRun || !ACTIVE.has(run?.status ?? 'computing')) return run?.status ?? liveRun?.state;
  return liveRun.state === 'published' || liveRun.state === 'failed' ? run.status : liveRun.state;
}

export function LiveLine({ liveRun }) {
  if (!liveRun) return null;
  const parts = [];
  if (liveRun.state === 'paused') parts.push(html`<${Badge} tone="warn" title=${liveRun.pause_reason}>paused<//> <span>${liveRun.pause_reason}</span>`);
  else if (liveRun.pause_reason && liveRun.state === 'computing') parts.push(html`<${Badge} tone="warn">throttled<//> <span class="muted">${liveRun.pause_reason}</span>`);
  if (liveRun.current && liveRun.state === 'computing') parts.push(html`<span class="muted">now: ${liveRun.current}</span>`);
  if (liveRun.state === 'publishing') parts.push(html`<span class="muted">publishing in one transaction…</span>`);
  return parts.length ? html`<div class="live-line">${parts}</div>` : null;
}

export function RunsPage() {
  const live = useLive();
  const { data, error } = useResource('/api/runs?limit=100');
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<${Loading} />`;
  // Runs the feed knows of that the list has not caught up with yet come first.
  const known = new Set(data.map((r) => r.run_id));
  const fresh = [...live.runs.values()].filter((r) => !known.has(r.run_id) && r.state !== 'published' && r.state !== 'failed');
  return html`<${Card} title="Runs" actions=${html`<span class="muted">${live.connected ? 'live' : 'reconnecting…'}</span>`}>
    <table class="table" data-testid="runs-table">
      <thead><tr><th>Run</th><th>Kind</th><th>Status</th><th>Progress</th><th>Actor</th><th>Reason</th><th>Started</th><th></th></tr></thead>
      <tbody>
        ${fresh.map((r) => html`<${RunRow} run=${{ run_id: r.run_id, kind: r.kind, status: 'computing', tasks: { total: r.tasks, computed: r.done } }} liveRun=${r} />`)}
        ${data.map((r) => html`<${RunRow} run=${r} liveRun=${live.runs.get(r.run_id)} />`)}
      </tbody>
    </table>
  <//>`;
}

function RunRow({ run, liveRun }) {
  const status = liveStatus(run, liveRun);
  const active = ACTIVE.has(run.status);
  // Done = computed or skipped (a dependent whose upstream did not change needs no work), as `tidemark runs`
  // counts: a finished run reads total/total, with its skipped and failed tasks said beside the bar.
  const done = active && liveRun ? liveRun.done : run.tasks.done ?? run.tasks.computed + run.tasks.skipped;
  const total = active && liveRun ? liveRun.tasks : run.tasks.total;
  const notes = active ? '' : taskNotes(run.tasks);
  return html`<tr data-run=${run.run_id}>
    <td><a class="mono" href=${`#/runs/${run.run_id}`}>${run.run_id}</a></td>
    <td>${run.kind}</td>
    <td><${RunStatus} status=${status} interrupted=${run.interrupted && !liveRun} /></td>
    <td class="progress-cell"><${Progress} done=${done} total=${total} state=${status} />${notes ? html`<span class="muted" data-testid="task-notes">${notes}</span>` : null}<${LiveLine} liveRun=${active ? liveRun : null} /></td>
    <td>${run.actor ?? '—'}</td>
    <td class="reason">${run.reason ?? ''}</td>
    <td class="nowrap">${fmtTime(run.created_at)}</td>
    <td>${active && run.status !== 'cancelling' ? html`<${CancelButton} runId=${run.run_id} />` : null}</td>
  </tr>`;
}

/** "109 skipped, 2 failed": the tasks a done/total bar does not tell apart. */
export function taskNotes({ skipped = 0, failed = 0 }) {
  return [skipped ? `${skipped} skipped` : '', failed ? `${failed} failed` : ''].filter(Boolean).join(', ');
}

export function CancelButton({ runId }) {
  const [state, setState] = useState(null);
  const cancel = async () => {
    if (!confirm(`Cancel run ${runId}? It stops between tasks; nothing is published; re-issuing its command resumes it.`)) return;
    try {
      await post(`/api/runs/${runId}/cancel`);
      setState('asked');
    } catch (err) {
      setState(err.message);
    }
  };
  return html`<${ActionButton} type="button" kind="ghost" onClick=${cancel} disabled=${state === 'asked'}>${state === 'asked' ? 'Cancelling…' : 'Cancel'}<//>${state && state !== 'asked' ? html`<div class="error-text">${state}</div>` : null}`;
}
