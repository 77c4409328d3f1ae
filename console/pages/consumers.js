// Consumer deliveries: each consumer's outbox standing (delivered, pending, dead letters, the last
// delivery) and the runs still waiting for a required consumer to acknowledge them.
import { html, Card, ErrorBox, Loading, Badge, Empty } from '../parts/ui.js';
import { fmtInt, fmtTime } from '../parts/format.js';
import { useResource } from '../api.js';

export function ConsumersPage() {
  const { data, error } = useResource('/api/consumers');
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<${Loading} />`;
  return html`
    <${Card} title="Consumers">
      ${data.consumers.length
        ? html`<table class="table" data-testid="consumers-table">
            <thead><tr><th>Consumer</th><th>Kind</th><th>Target</th><th>Datasets</th><th>Required</th><th class="num">Delivered</th><th class="num">Pending</th><th class="num">Dead</th><th>Last delivery</th></tr></thead>
            <tbody>${data.consumers.map(
              (c) => html`<tr>
                <td><strong>${c.consumer}</strong>${c.pause ? html` <${Badge} tone="info">pause<//>` : null}</td>
                <td>${c.kind}</td>
                <td class="mono small">${c.target}</td>
                <td>${c.datasets.join(', ')}</td>
                <td>${c.required ? 'yes' : 'no'}</td>
                <td class="num">${fmtInt(c.delivered)}</td>
                <td class="num">${c.pending ? html`<${Badge} tone="warn">${c.pending}<//>` : '0'}</td>
                <td class="num">${c.dead ? html`<${Badge} tone="bad">${c.dead}<//>` : '0'}</td>
                <td>${c.last_delivery
                  ? html`<${Badge} tone=${c.last_delivery.status === 'delivered' ? 'ok' : c.last_delivery.status === 'dead' ? 'bad' : 'warn'}>${c.last_delivery.status}<//>
                      <span class="muted"> ${c.last_delivery.event_type} · run <a class="mono" href=${`#/runs/${c.last_delivery.run_id}`}>${c.last_delivery.run_id}</a> · ${c.last_delivery.attempts} attempt(s) · ${fmtTime(c.last_delivery.delivered_at ?? c.last_delivery.next_attempt_at)}</span>
                      ${c.last_delivery.last_error ? html`<div class="error-text small">${c.last_delivery.last_error}</div>` : null}`
                  : html`<span class="muted">none yet</span>`}</td>
              </tr>`,
            )}</tbody>
          </table>`
        : html`<${Empty}>No consumers are configured in tidemark.yaml. Consumers (webhook, command, sql, file) are told about every publish and can hold a run until they acknowledge it.<//>`}
    <//>
    <${Card} title="Runs awaiting consumers">
      ${data.awaiting.length
        ? html`<table class="table compact">
            <thead><tr><th>Run</th><th>Kind</th><th>Published</th><th>Waiting for</th></tr></thead>
            <tbody>${data.awaiting.map(
              (r) => html`<tr>
                <td><a class="mono" href=${`#/runs/${r.run_id}`}>${r.run_id}</a></td><td>${r.kind}</td><td>${fmtTime(r.published_at)}</td>
                <td>${r.waiting_for.length ? null : html`<span class="muted">no required consumer pending; completes at the next delivery</span>`}${r.waiting_for.map((w) => html`<div><strong>${w.consumer}</strong> <${Badge} tone=${w.status === 'dead' ? 'bad' : 'warn'}>${w.status}<//> <span class="muted">${w.attempts} attempt(s)${w.last_error ? ` · ${w.last_error}` : ''}</span></div>`)}</td>
              </tr>`,
            )}</tbody>
          </table>`
        : html`<${Empty}>Every published run has been acknowledged by its required consumers.<//>`}
      ${data.orphaned.length ? html`<p class="muted">Pending deliveries for consumers no longer configured: ${data.orphaned.map((o) => `${o.consumer} (${o.pending})`).join(', ')}</p>` : null}
    <//>
  `;
}
