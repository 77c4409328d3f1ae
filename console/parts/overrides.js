// The override flags of a backfill or restore (the CLI's --include-recent, --allow-full-refresh,
// --allow-empty, --allow-shrink). Each is offered only when the plan says it is needed — the server
// lists them in `plan.overrides`, each with the message of the guard (or failed check) it overrides —
// and stays shown while ticked, so the user can see and untick what is in effect. Nothing is ever
// ticked by default: an override is an explicit decision, sent as the CLI flag it stands for.
import { html } from './ui.js';

const LABELS = {
  include_recent: 'Include recent partitions',
  allow_full_refresh: 'Allow a full refresh',
  allow_empty: 'Allow a partition that had rows to become empty',
  allow_shrink: 'Allow a partition to shrink beyond guards.max_shrink',
};

/** `include_recent` → `--include-recent`. */
export const optionOf = (flag) => `--${flag.replace(/_/g, '-')}`;

/** The override fields of a form state, as the API takes them (only the ticked ones). */
export function overrideFields(form) {
  return Object.fromEntries(Object.keys(LABELS).filter((f) => form[f]).map((f) => [f, true]));
}

/** The CLI flags a form state adds, for the confirmation text. */
export function overrideOptions(form) {
  return Object.keys(overrideFields(form)).map(optionOf);
}

export function OverrideFields({ plan, form, onToggle, busy }) {
  const needed = new Map((plan.overrides ?? []).filter((o) => LABELS[o.flag]).map((o) => [o.flag, o]));
  const shown = Object.keys(LABELS).filter((f) => needed.has(f) || form[f]);
  if (!shown.length) return null;
  return html`<div class="overrides" data-testid="overrides">
    <strong>Overrides</strong>
    ${shown.map(
      (f) => html`<label class="check override">
        <input type="checkbox" data-testid=${`override-${f}`} checked=${Boolean(form[f])} disabled=${busy} onChange=${(e) => onToggle(f, e.target.checked)} />
        <span>${LABELS[f]} <code>${optionOf(f)}</code>
          <span class="hint">${needed.has(f) ? needed.get(f).message : 'In effect: the plan above is the one with this override.'}</span>
        </span>
      </label>`,
    )}
  </div>`;
}
