// The token control in the header. Without a token the console is read-only; with it, actions are
// enabled. The token is checked against the server before it is kept (in sessionStorage).
import { useState } from 'preact/hooks';
import { html } from './ui.js';
import { getToken, setToken, useLive } from '../api.js';

export function TokenControl() {
  useLive(); // re-render when the token changes
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);

  if (getToken()) {
    return html`<div class="token token-set">
      <span class="dot dot-ok"></span><span>Token set — actions enabled</span>
      <button class="btn btn-link" onClick=${() => setToken('')}>Forget</button>
    </div>`;
  }

  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const token = value.trim();
    const res = await fetch('/api/auth/check', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{}' }).catch(() => null);
    setBusy(false);
    if (res?.ok) {
      setToken(token);
      setOpen(false);
      setValue('');
    } else setError(res?.status === 401 ? 'The server refused this token.' : 'The server did not answer.');
  };

  return html`<div class="token">
    <span class="read-only-label">Read-only</span>
    <button class="btn btn-light" data-testid="token-open" onClick=${() => setOpen(!open)}>Enter token</button>
    ${open
      ? html`<form class="token-popover" onSubmit=${submit}>
          <label for="token-input">Bearer token</label>
          <input id="token-input" data-testid="token-input" type="password" autocomplete="off" value=${value} onInput=${(e) => setValue(e.target.value)} placeholder="64 hex characters" />
          <p class="hint">It is in <code>.tidemark/serve.json</code> of the project (readable only by the user running <code>tidemark serve</code>). Kept for this tab only.</p>
          ${error ? html`<p class="error-text">${error}</p>` : null}
          <div class="row-end"><button class="btn btn-primary" data-testid="token-save" disabled=${busy || !value.trim()}>Use token</button></div>
        </form>`
      : null}
  </div>`;
}
