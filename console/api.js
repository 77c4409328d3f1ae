// Talking to `tidemark serve`: JSON reads, token-carrying actions, and the live event feed.
// The token is kept in sessionStorage only: it is forgotten when the tab closes.
import { useEffect, useState } from 'preact/hooks';

const TOKEN_KEY = 'tidemark.token';
const listeners = new Set();

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
  emit({ kind: 'token' });
}

/** An error the server explained: message, hint and HTTP status. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.error || `HTTP ${status}`);
    this.status = status;
    this.hint = body?.hint;
    this.body = body;
  }
}

async function request(method, url, body) {
  const headers = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const sent = method !== 'GET' ? getToken() : '';
  if (sent) headers.authorization = `Bearer ${sent}`;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const data = await res.json().catch(() => null);
  if (res.status === 401 && sent) {
    // Each start of tidemark serve writes a new token: one this tab kept from before a restart is refused
    // on every action. Forget it, so the header asks for the token again instead of saying actions are enabled.
    setToken('');
    throw new ApiError(401, {
      error: 'the server refused the token this tab kept: tidemark serve writes a new one each time it starts',
      hint: 'click Enter token and paste the token from .tidemark/serve.json',
    });
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

export const get = (url) => request('GET', url);
export const post = (url, body = {}) => request('POST', url, body);

// --- live feed ------------------------------------------------------------------------------------
// One EventSource for the whole console. `live` is the picture of runs in flight (from the server's
// snapshot, then kept current by run events); `changes` counts writes that finished, so pages that
// show stored state reload when it moves.
export const live = { connected: false, runs: new Map(), commands: new Map(), changes: 0 };

function emit(message) {
  for (const l of listeners) l(message);
}

export function subscribe(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

function applyRunEvent(e) {
  if (e.type === 'log') return;
  if (e.type === 'run.started') {
    live.runs.set(e.run_id, { run_id: e.run_id, kind: e.kind, command_id: e.command_id, state: 'computing', tasks: e.tasks, done: 0, failed: 0, current: null, pause_reason: null, error: null });
    return;
  }
  const run = live.runs.get(e.run_id);
  if (!run) return;
  const next = { ...run };
  if (e.type === 'task.started') Object.assign(next, { state: 'computing', current: `${e.dataset} ${e.partition}` });
  if (e.type === 'task.finished') Object.assign(next, { done: run.done + 1, failed: run.failed + (e.status === 'failed' ? 1 : 0) });
  if (e.type === 'run.paused') Object.assign(next, { state: 'paused', pause_reason: e.reason });
  if (e.type === 'run.publishing') next.state = 'publishing';
  if (e.type === 'run.published') Object.assign(next, { state: 'published', current: null });
  if (e.type === 'run.failed') Object.assign(next, { state: 'failed', error: e.error });
  live.runs.set(e.run_id, next);
  if (e.type === 'run.published' || e.type === 'run.failed') live.changes++;
}

export function connectLive() {
  const source = new EventSource('/api/events');
  source.onopen = () => {
    live.connected = true;
    emit({ kind: 'status' });
  };
  source.onerror = () => {
    live.connected = false; // EventSource reconnects by itself (retry: 2000)
    emit({ kind: 'status' });
  };
  source.addEventListener('snapshot', (m) => {
    const snap = JSON.parse(m.data);
    live.runs = new Map(snap.runs.map((r) => [r.run_id, r]));
    live.commands = new Map(snap.commands.map((c) => [c.command_id, c]));
    live.changes++;
    emit({ kind: 'snapshot' });
  });
  source.addEventListener('run', (m) => {
    const e = JSON.parse(m.data);
    applyRunEvent(e);
    emit({ kind: 'run', event: e });
  });
  source.addEventListener('command', (m) => {
    const c = JSON.parse(m.data);
    live.commands.set(c.command_id, c);
    if (c.exit_code !== null) live.changes++; // lock, unlock, ingest…: stored state may have moved
    emit({ kind: 'command', command: c });
  });
}

/** Re-renders the component on every live message; returns the live picture. */
export function useLive() {
  const [, setTick] = useState(0);
  useEffect(() => subscribe(() => setTick((t) => t + 1)), []);
  return live;
}

/**
 * A counter that moves on the live events of one run (a task started or finished, paused,
 * publishing…) — the events that move its progress bar — so a page showing the run's stored state
 * (its tasks) reloads on them. Bursts are coalesced: at most one reload per half second, the last
 * event always followed by one.
 */
export function useRunEvents(runId) {
  const [count, setCount] = useState(0);
  useEffect(() => {
    let timer = null;
    let pending = false;
    const bump = () => {
      if (timer) {
        pending = true;
        return;
      }
      setCount((n) => n + 1);
      timer = setTimeout(() => {
        timer = null;
        if (pending) {
          pending = false;
          bump();
        }
      }, 500);
    };
    const off = subscribe((m) => {
      if (m.kind === 'run' && m.event.run_id === runId && m.event.type !== 'log') bump();
    });
    return () => {
      off();
      clearTimeout(timer);
    };
  }, [runId]);
  return count;
}

/**
 * Loads `url` (a function of nothing, or a string) and reloads it when `deps` change or a write
 * finished. Returns { data, error, loading, reload }.
 */
export function useResource(url, deps = []) {
  const { changes } = useLive();
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [nonce, setNonce] = useState(0);
  useEffect(() => {
    if (!url) return undefined;
    let cancelled = false;
    setState((s) => ({ ...s, loading: true }));
    get(url)
      .then((data) => !cancelled && setState({ data, error: null, loading: false }))
      .catch((error) => !cancelled && setState({ data: null, error, loading: false }));
    return () => {
      cancelled = true;
    };
  }, [url, changes, nonce, ...deps]);
  return { ...state, reload: () => setNonce((n) => n + 1) };
}
