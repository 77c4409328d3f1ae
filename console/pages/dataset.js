// One dataset: its partition grid, the details of a partition, and the actions on a range —
// backfill (models), lock and unlock. Every action shows what it will do before it is sent.
import { useEffect, useState } from 'preact/hooks';
import { html, Card, ErrorBox, Loading, Badge, ActionButton, ReadOnlyHint } from '../parts/ui.js';
import { PartitionGrid, Legend } from '../parts/grid.js';
import { PlannedActionConfirm, usePlannedAction } from '../parts/planned-action.js';
import { fmtInt, fmtTime, shortHash } from '../parts/format.js';
import { post, useResource } from '../api.js';

export function DatasetPage({ name }) {
  const { data, error } = useResource(`/api/datasets/${encodeURIComponent(name)}/partitions`);
  const [selection, setSelection] = useState({ focus: null, from: null, to: null });
  useEffect(() => setSelection({ focus: null, from: null, to: null }), [name]);
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<${Loading} />`;

  const parts = data.partitions;
  const focus = parts.find((p) => p.partition === selection.focus) ?? null;
  const select = (p, extend) => {
    if (extend && selection.focus) {
      const [from, to] = [selection.focus, p.partition].sort();
      setSelection({ focus: selection.focus, from, to });
    } else setSelection({ focus: p.partition, from: p.partition, to: p.partition });
  };
  const stale = parts.filter((p) => p.state === 'stale' || p.state === 'failed' || p.state === 'missing');
  const suggested = selection.from ? { from: selection.from, to: selection.to } : stale.length ? { from: stale[0].partition, to: stale[stale.length - 1].partition } : { from: '', to: '' };

  return html`
    <div class="page-title">
      <h1>${name}</h1>
      <span class="muted">${data.grain} partitions · ${parts.length} in all</span>
      <a class="btn btn-ghost" href="#/">All datasets</a>
    </div>
    <div class="split">
      <${Card} title="Partitions" className="grow">
        <${Legend} partitions=${parts} />
        ${!parts.length ? html`<p class="muted">No partitions yet.</p>` : html`<${PartitionGrid} partitions=${parts} grain=${data.grain} selection=${selection} onSelect=${select} />`}
        <p class="hint">Hover a cell for its version; click it for details; shift-click another cell to select a range for an action.</p>
      <//>
      <${Card} title=${focus ? `Partition ${focus.partition}` : 'Partition'} className="side">
        ${focus ? html`<${PartitionDetails} p=${focus} dataset=${name} />` : html`<p class="muted">Select a cell to see its version, rows, checksum, run, who published it and why.</p>`}
      <//>
    </div>
    <${Actions} dataset=${name} kind=${data.kind} suggested=${suggested} rangeKey=${selection.from ? `${selection.from}..${selection.to}` : 'auto'} locks=${data.locks} key=${name} />
  `;
}

function PartitionDetails({ p, dataset }) {
  return html`<dl class="details" data-testid="partition-details">
    <dt>State</dt><dd><span class=${`swatch state-${p.state}`}></span> ${p.state}</dd>
    <dt>Version</dt><dd>${p.version ?? '—'}${p.version_kind ? html` <span class="muted">(${p.version_kind})</span>` : null}</dd>
    <dt>Rows</dt><dd>${fmtInt(p.rows)}</dd>
    <dt>Checksum</dt><dd class="mono" title=${p.checksum ?? ''}>${shortHash(p.checksum)}</dd>
    <dt>Run</dt><dd>${p.run_id ? html`<a class="mono" href=${`#/runs/${p.run_id}`}>${p.run_id}</a>` : '—'}</dd>
    <dt>Actor</dt><dd>${p.actor ?? '—'}</dd>
    <dt>Reason</dt><dd>${p.reason ?? '—'}</dd>
    <dt>Published</dt><dd>${fmtTime(p.published_at)}</dd>
    ${p.stale_reasons?.length ? html`<dt>Stale</dt><dd>${p.stale_reasons.map((r) => html`<div>${r}</div>`)}</dd>` : null}
    ${p.protected?.length ? html`<dt>Protected</dt><dd>${p.protected.map((x) => html`<${Badge} tone="muted">${x}<//> `)}</dd>` : null}
  </dl>
  ${p.version !== null ? html`<a class="btn btn-ghost" href=${`#/lineage/${encodeURIComponent(dataset)}/${encodeURIComponent(p.partition)}`}>Lineage of ${p.partition}</a>` : null}`;
}

// Forms restart when the selected range changes (rangeKey), not when a reload moves the suggestion.
function Actions({ dataset, kind, suggested, rangeKey, locks }) {
  // Sources are loaded with `tidemark ingest`, not rebuilt: no backfill for them.
  const tabs = kind === 'model' ? ['backfill', 'lock', 'unlock'] : ['lock', 'unlock'];
  const [tab, setTab] = useState(tabs[0]);
  return html`<${Card}
    title="Actions"
    actions=${html`<div class="tabs">
      ${tabs.map((t) => html`<button type="button" class=${`tab ${tab === t ? 'active' : ''}`} data-testid=${`tab-${t}`} onClick=${() => setTab(t)}>${t[0].toUpperCase() + t.slice(1)}</button>`)}
    </div>`}
  >
    <${ReadOnlyHint} />
    ${tab === 'backfill' ? html`<${BackfillForm} dataset=${dataset} suggested=${suggested} key=${`backfill-${rangeKey}`} />` : null}
    ${tab === 'lock' || tab === 'unlock' ? html`<${LockForm} action=${tab} dataset=${dataset} suggested=${suggested} locks=${locks} key=${`${tab}-${rangeKey}`} />` : null}
  <//>`;
}

function RangeFields({ form, set }) {
  return html`
    <label>From <input data-testid="from" value=${form.from} onInput=${(e) => set({ from: e.target.value })} placeholder="2026-04-24" /></label>
    <label>To <input data-testid="to" value=${form.to} onInput=${(e) => set({ to: e.target.value })} placeholder="2026-04-30" /></label>
  `;
}

function BackfillForm({ dataset, suggested }) {
  const action = usePlannedAction({
    initial: { from: suggested.from, to: suggested.to, downstream: true, reason: '', rate: '' },
    planPath: '/api/plan/backfill',
    actionPath: '/api/actions/backfill',
    requestOf: (f) => ({ dataset, from: f.from.trim(), to: f.to.trim(), downstream: f.downstream }),
    extraOf: (f) => (f.rate.trim() ? { rate: f.rate.trim() } : {}),
  });
  const { form, set, plan, busy } = action;
  return html`<form class="form" onSubmit=${action.review} data-testid="backfill-form">
    <div class="form-row">
      <${RangeFields} form=${form} set=${set} />
      <label class="check"><input type="checkbox" checked=${form.downstream} onChange=${(e) => set({ downstream: e.target.checked })} /> Downstream: also rebuild the dependents that read the range</label>
    </div>
    <div class="form-row">
      <label class="grow">Reason <input data-testid="reason" value=${form.reason} onInput=${(e) => set({ reason: e.target.value })} placeholder="why — recorded in the audit trail" /></label>
      <label>Rate limit <input class="narrow" value=${form.rate} onInput=${(e) => set({ rate: e.target.value })} placeholder="e.g. 30/min" /></label>
      <${ActionButton} testid="review-plan" busy=${busy && !plan}>Review plan<//>
    </div>
    <${PlannedActionConfirm} action=${action} what="Start backfill" />
  </form>`;
}

function LockForm({ action, dataset, suggested, locks }) {
  const [form, setForm] = useState({ from: suggested.from, to: suggested.to, reason: '' });
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState(null);
  const [done, setDone] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (patch) => {
    setForm({ ...form, ...patch });
    setConfirming(false);
  };
  const send = async () => {
    setBusy(true);
    setError(null);
    try {
      await post(`/api/actions/${action}`, { dataset, from: form.from.trim(), to: form.to.trim(), reason: form.reason.trim() });
      setDone(`${action === 'lock' ? 'Locked' : 'Unlocked'} ${dataset} ${form.from}..${form.to}.`);
      setConfirming(false);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const check = (e) => {
    e.preventDefault();
    setDone(null);
    if (!form.reason.trim()) return setError(new Error('A reason is required: it is recorded in the audit trail.'));
    setError(null);
    setConfirming(true);
  };
  return html`<form class="form" onSubmit=${check}>
    <div class="form-row">
      <${RangeFields} form=${form} set=${set} />
      <label class="grow">Reason <input value=${form.reason} onInput=${(e) => set({ reason: e.target.value })} placeholder="why — recorded in the audit trail" /></label>
      <${ActionButton}>Review<//>
    </div>
    ${locks.length
      ? html`<p class="muted">Locks now: ${locks.map((l) => html`<span class="lock-chip">${l.from_key}..${l.to_key} <em>by ${l.actor}: ${l.reason}</em></span>`)}</p>`
      : html`<p class="muted">No locks on ${dataset}.</p>`}
    <${ErrorBox} error=${error} />
    ${done ? html`<p class="ok-text">${done}</p>` : null}
    ${confirming
      ? html`<div class="confirm-bar">
          <span>${action === 'lock'
            ? `Lock ${dataset} ${form.from}..${form.to}? Backfills, restores and ingests will refuse these partitions until unlocked.`
            : `Remove the locks of ${dataset} that lie within ${form.from}..${form.to}?`}</span>
          <span class="spacer"></span>
          <button type="button" class="btn btn-ghost" onClick=${() => setConfirming(false)}>Cancel</button>
          <${ActionButton} type="button" onClick=${send} busy=${busy}>${action === 'lock' ? 'Lock' : 'Unlock'}<//>
        </div>`
      : null}
  </form>`;
}
