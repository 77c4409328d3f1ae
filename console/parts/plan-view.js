// A plan as the server computed it (the same plan `tidemark plan` prints), and the confirmation step
// that must come before anything runs.
import { html, ActionButton, Badge, ErrorBox } from './ui.js';
import { fmtInt, ranges } from './format.js';

function reasonSummary(reasons) {
  const counts = new Map();
  for (const r of Object.values(reasons ?? {})) counts.set(r, (counts.get(r) ?? 0) + 1);
  return [...counts].map(([r, n]) => `${n} ${r}`).join(', ');
}

export function PlanView({ plan }) {
  const total = plan.datasets.reduce((s, d) => s + d.partitions.length, 0);
  return html`<div class="plan" data-testid="plan">
    <p class="plan-summary">
      <strong>${total}</strong> partition${total === 1 ? '' : 's'} in <strong>${plan.datasets.length}</strong> dataset${plan.datasets.length === 1 ? '' : 's'}${' '}
      · about ${fmtInt(plan.estimated_rows)} rows now live
    </p>
    ${total
      ? html`<table class="table compact">
          <thead><tr><th>Dataset</th><th class="num">Partitions</th><th>Range</th><th>Why</th></tr></thead>
          <tbody>
            ${plan.datasets.map(
              (d) => html`<tr><td><strong>${d.dataset}</strong></td><td class="num">${d.partitions.length}</td><td class="mono">${ranges(d.partitions)}</td><td>${reasonSummary(d.reasons)}</td></tr>`,
            )}
          </tbody>
        </table>`
      : html`<p class="muted">Nothing to do: every partition in the range is up to date.</p>`}
    ${plan.restored?.length
      ? html`<p class="muted">Brings back: ${plan.restored.map((s) => `${s.partition} v${s.version} (replacing v${s.current_version})`).join(', ')}</p>`
      : null}
    ${plan.not_restorable?.length ? html`<p class="muted">Not restorable: ${plan.not_restorable.map((n) => `${n.partition} (${n.why})`).join('; ')}</p>` : null}
    <div class="guards">
      ${plan.config_changed
        ? html`<div class="guard guard-blocking" data-testid="config-changed">
            <${Badge} tone="bad">blocks<//> ${plan.config_changed.message}
            <div class="hint">${plan.config_changed.hint}</div>
          </div>`
        : null}
      ${plan.guards.length
        ? plan.guards.map(
            (g) => html`<div class=${`guard ${g.blocking ? 'guard-blocking' : ''}`}>
              <${Badge} tone=${g.blocking ? 'bad' : 'warn'}>${g.blocking ? 'blocks' : 'note'}<//> ${g.message}
              ${g.hint ? html`<div class="hint">${g.hint}</div>` : null}
            </div>`,
          )
        : html`<span class="muted">Guards: none apply.</span>`}
    </div>
  </div>`;
}

/**
 * The plan, then an explicit confirmation: nothing is sent until the user presses the button.
 * `overrides` (rendered between the plan and the button) are the override fields; `flags` the CLI
 * flags in effect, named in the confirmation.
 */
export function ConfirmPlan({ plan, what, reason, onConfirm, onCancel, busy, error, overrides = null, flags = [] }) {
  const total = plan.datasets.reduce((s, d) => s + d.partitions.length, 0);
  return html`<div class="confirm" data-testid="confirm-plan">
    <${PlanView} plan=${plan} />
    ${overrides}
    <${ErrorBox} error=${error} />
    <div class="confirm-bar">
      <span>${what} ${total} partition${total === 1 ? '' : 's'} with reason <q>${reason}</q>${flags.length ? html` and <code>${flags.join(' ')}</code>` : null}? This writes new versions (restorable) and an audit record.</span>
      <span class="spacer"></span>
      <button type="button" class="btn btn-ghost" onClick=${onCancel} disabled=${busy}>Cancel</button>
      <${ActionButton} type="button" testid="confirm-start" onClick=${onConfirm} busy=${busy} disabled=${plan.blocked || !total}>${what}<//>
    </div>
  </div>`;
}
