// The audit trail: every write with who, when, why and which command, the result of verifying its
// hash chain, and the lineage of one partition (every version and what it was built from).
import { useState } from 'preact/hooks';
import { html, Card, ErrorBox, Loading, Badge, Empty } from '../parts/ui.js';
import { fmtInt, fmtTime, ranges, shortHash } from '../parts/format.js';
import { useResource } from '../api.js';

export function ChainBadge() {
  const { data: v, error } = useResource('/api/audit/verify');
  if (error) return html`<${Badge} tone="bad">chain not verified: ${error.message}<//>`;
  if (!v) return html`<${Badge}>verifying chain…<//>`;
  if (v.ok) {
    return html`<span class="chain chain-ok" data-testid="chain-badge" title=${`head ${v.head}`}>
      <span class="chain-icon">✓</span> Chain verified · ${fmtInt(v.count)} records · head <code>${shortHash(v.head)}</code>
    </span>`;
  }
  return html`<span class="chain chain-bad" data-testid="chain-badge"><span class="chain-icon">!</span> Chain broken at record ${v.seq} (${v.problem}): ${v.message}</span>`;
}

export function AuditPage({ lineageOf }) {
  const project = useResource('/api/project');
  const [dataset, setDataset] = useState('');
  const { data, error } = useResource(`/api/audit${dataset ? `?dataset=${encodeURIComponent(dataset)}` : ''}`);
  const names = project.data?.datasets.map((d) => d.dataset) ?? [];
  const lineage = html`<${LineageCard} names=${names} initial=${lineageOf} key=${names.length} />`;
  // Opened for a partition (#/lineage/DS/P): its lineage first; otherwise the log first.
  return html`
    ${lineageOf ? lineage : null}
    <${Card}
      title="Audit log"
      actions=${html`<${ChainBadge} />
        <label class="inline">Dataset <select value=${dataset} onChange=${(e) => setDataset(e.target.value)}><option value="">all</option>${names.map((n) => html`<option value=${n}>${n}</option>`)}</select></label>`}
    >
      ${error ? html`<${ErrorBox} error=${error} />` : !data ? html`<${Loading} />` : html`<${AuditTable} data=${data} />`}
    <//>
    ${lineageOf ? null : lineage}
  `;
}

function AuditTable({ data }) {
  if (!data.records.length) return html`<${Empty}>No audit records yet.<//>`;
  return html`${data.total > data.records.length ? html`<p class="muted">Newest ${data.records.length} of ${data.total} records.</p>` : null}
    <table class="table compact" data-testid="audit-table">
      <thead><tr><th class="num">#</th><th>At</th><th>Actor</th><th>Action</th><th>Dataset</th><th>Partitions</th><th>Reason</th><th>Run</th></tr></thead>
      <tbody>${data.records.map(
        (r) => html`<tr title=${r.command}>
          <td class="num">${r.seq}</td>
          <td class="nowrap">${fmtTime(r.at)}</td>
          <td>${r.actor}</td>
          <td><${Badge} tone=${r.action === 'restore' ? 'warn' : r.action === 'backfill' ? 'info' : 'muted'}>${r.action}<//></td>
          <td>${r.dataset ?? '—'}</td>
          <td class="mono small">${r.partitions.length > 3 ? `${r.partitions.length}: ` : ''}${ranges(r.partitions)}</td>
          <td class="reason">${r.reason}</td>
          <td>${r.run_id ? html`<a class="mono" href=${`#/runs/${r.run_id}`}>${r.run_id}</a>` : '—'}</td>
        </tr>`,
      )}</tbody>
    </table>`;
}

function LineageCard({ names, initial }) {
  const [target, setTarget] = useState(initial ?? null);
  const [form, setForm] = useState({ dataset: initial?.dataset ?? '', partition: initial?.partition ?? '' });
  const url = target ? `/api/lineage/${encodeURIComponent(target.dataset)}/${encodeURIComponent(target.partition)}` : null;
  const { data, error } = useResource(url, [url]);
  const show = (e) => {
    e.preventDefault();
    const t = { dataset: form.dataset || names[0], partition: form.partition.trim() };
    setTarget(t);
    location.hash = `#/lineage/${encodeURIComponent(t.dataset)}/${encodeURIComponent(t.partition)}`;
  };
  return html`<${Card} title=${target ? `Lineage of ${target.dataset} ${target.partition}` : 'Lineage of a partition'}>
    <form class="form form-row" onSubmit=${show}>
      <label>Dataset <select value=${form.dataset || names[0]} onChange=${(e) => setForm({ ...form, dataset: e.target.value })}>${names.map((n) => html`<option value=${n}>${n}</option>`)}</select></label>
      <label>Partition <input value=${form.partition} onInput=${(e) => setForm({ ...form, partition: e.target.value })} placeholder="2026-04-28" /></label>
      <button class="btn btn-secondary" disabled=${!form.partition.trim()}>Show lineage</button>
    </form>
    ${!url ? html`<p class="muted">Every version of one partition: who published it, when, why, from which upstream versions.</p>` : null}
    ${url && error ? html`<div class="gap-top"><${ErrorBox} error=${error} /></div>` : null}
    ${url && data
      ? html`<table class="table compact gap-top" data-testid="lineage-table">
          <thead><tr><th class="num">Version</th><th>Kind</th><th>Published</th><th>Actor</th><th>Reason</th><th>Run</th><th class="num">Rows</th><th>Checksum</th><th>Built from</th><th>State</th></tr></thead>
          <tbody>${data.map(
            (v) => html`<tr>
              <td class="num">${v.version}</td>
              <td>${v.kind}${v.run_kind ? html` <span class="muted">(${v.run_kind})</span>` : null}</td>
              <td class="nowrap">${fmtTime(v.published_at)}</td>
              <td>${v.actor}</td>
              <td class="reason">${v.reason}</td>
              <td><a class="mono" href=${`#/runs/${v.run_id}`}>${v.run_id}</a></td>
              <td class="num">${fmtInt(v.rows)}</td>
              <td class="mono">${shortHash(v.checksum)}</td>
              <td class="small">${v.inputs.length ? v.inputs.map((i) => html`<div>${i.dataset} ${i.partition} v${i.version}</div>`) : html`<span class="muted">source</span>`}</td>
              <td>${v.replaced_at === null ? html`<${Badge} tone="ok">live<//>` : v.retained ? html`<${Badge}>retained<//>` : html`<${Badge}>removed<//>`}</td>
            </tr>`,
          )}</tbody>
        </table>`
      : null}
  <//>`;
}
