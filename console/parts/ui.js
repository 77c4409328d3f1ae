// Shared building blocks: the htm binding, badges, cards, errors, progress bars, and the button
// that needs the token.
import { h } from 'preact';
import htm from 'htm';
import { getToken } from '../api.js';

export const html = htm.bind(h);

/** Partition states, in legend order, with their labels. Colours live in styles.css (.state-*). */
export const PARTITION_STATES = [
  ['published', 'Published'],
  ['stale', 'Stale'],
  ['building', 'Building'],
  ['failed', 'Failed'],
  ['frozen', 'Frozen'],
  ['locked', 'Locked'],
  ['missing', 'Missing'],
];

const RUN_TONES = {
  complete: 'ok',
  published: 'ok',
  computing: 'info',
  planned: 'info',
  publishing: 'info',
  paused: 'warn',
  cancelling: 'warn',
  cancelled: 'muted',
  failed: 'bad',
};

export function Badge({ tone = 'muted', children, title }) {
  return html`<span class=${`badge tone-${tone}`} title=${title}>${children}</span>`;
}

/** `interrupted`: the run's process is gone (the API says so); its stored status still reads computing. */
export function RunStatus({ status, interrupted = false }) {
  const badge = html`<${Badge} tone=${RUN_TONES[status] ?? 'muted'}>${status}<//>`;
  if (!interrupted) return badge;
  const why = 'its process is gone and nothing computes it: re-issue its command to resume it, or cancel it';
  return html`${badge} <${Badge} tone="warn" title=${why}>interrupted<//>`;
}

export function Card({ title, actions, children, className = '' }) {
  return html`<section class=${`card ${className}`}>
    ${title || actions ? html`<header class="card-head"><h2>${title}</h2><div class="card-actions">${actions}</div></header>` : null}
    <div class="card-body">${children}</div>
  </section>`;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<div class="error-box" role="alert">
    <strong>${error.message}</strong>
    ${error.hint ? html`<div class="hint">${error.hint}</div>` : null}
  </div>`;
}

export function Loading({ what = 'Loading' }) {
  return html`<p class="muted loading">${what}…</p>`;
}

export function Progress({ done, total, state }) {
  const pct = total ? Math.min(100, Math.round((done / total) * 100)) : state === 'published' ? 100 : 0;
  return html`<div class=${`progress progress-${state ?? 'idle'}`} role="progressbar" aria-valuenow=${pct} aria-valuemin="0" aria-valuemax="100">
    <div class="progress-fill" style=${`width:${pct}%`}></div>
    <span class="progress-label">${done}/${total}</span>
  </div>`;
}

/** A button that acts: disabled without a token, with the reason on hover and beside it. */
export function ActionButton({ onClick, children, kind = 'primary', disabled, busy, testid, type = 'submit' }) {
  const noToken = !getToken();
  return html`<button
    type=${type}
    class=${`btn btn-${kind}`}
    data-testid=${testid}
    disabled=${noToken || disabled || busy}
    title=${noToken ? 'Read-only: enter the token (top right) to act' : undefined}
    onClick=${onClick}
  >
    ${busy ? 'Working…' : children}
  </button>`;
}

export function ReadOnlyHint() {
  if (getToken()) return null;
  return html`<p class="hint read-only-hint">Read-only: actions need the server's token — use <em>Enter token</em> at the top right.</p>`;
}

export function Empty({ children }) {
  return html`<p class="empty">${children}</p>`;
}
