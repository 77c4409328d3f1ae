// The Tidemark console: a header (project, pages, live status, token) and hash routing to the pages.
//   #/                      datasets and their dependency graph
//   #/datasets/NAME         partition grid and actions
//   #/runs, #/runs/ID       runs with live progress; one run with its plan, tasks and diff
//   #/audit, #/lineage/DS/P audit log with chain verification; lineage of a partition
//   #/consumers             consumer deliveries
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { html } from './parts/ui.js';
import { TokenControl } from './parts/token.js';
import { connectLive, useLive, useResource } from './api.js';
import { DatasetsPage } from './pages/datasets.js';
import { DatasetPage } from './pages/dataset.js';
import { RunsPage } from './pages/runs.js';
import { RunPage } from './pages/run.js';
import { AuditPage } from './pages/audit.js';
import { ConsumersPage } from './pages/consumers.js';

function useHash() {
  const [hash, setHash] = useState(location.hash || '#/');
  useEffect(() => {
    const on = () => setHash(location.hash || '#/');
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return hash;
}

function route(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  switch (parts[0]) {
    case 'datasets':
      return parts[1] ? { tab: 'datasets', view: html`<${DatasetPage} name=${parts[1]} key=${parts[1]} />` } : { tab: 'datasets', view: html`<${DatasetsPage} />` };
    case 'runs':
      return parts[1] ? { tab: 'runs', view: html`<${RunPage} id=${parts[1]} key=${parts[1]} />` } : { tab: 'runs', view: html`<${RunsPage} />` };
    case 'audit':
      return { tab: 'audit', view: html`<${AuditPage} />` };
    case 'lineage':
      return { tab: 'audit', view: html`<${AuditPage} lineageOf=${{ dataset: parts[1], partition: parts[2] }} key=${`${parts[1]}/${parts[2]}`} />` };
    case 'consumers':
      return { tab: 'consumers', view: html`<${ConsumersPage} />` };
    default:
      return { tab: 'datasets', view: html`<${DatasetsPage} />` };
  }
}

const TABS = [
  ['datasets', 'Datasets', '#/'],
  ['runs', 'Runs', '#/runs'],
  ['audit', 'Audit', '#/audit'],
  ['consumers', 'Consumers', '#/consumers'],
];

function LiveIndicator() {
  const live = useLive();
  const running = [...live.runs.values()].filter((r) => r.state !== 'published' && r.state !== 'failed');
  return html`<span class=${`live ${live.connected ? 'live-on' : 'live-off'}`} data-testid="live-indicator">
    <span class="dot"></span>${live.connected ? (running.length ? `${running.length} run${running.length > 1 ? 's' : ''} in flight` : 'Live') : 'Reconnecting…'}
  </span>`;
}

function App() {
  const hash = useHash();
  const health = useResource('/api/health');
  const { tab, view } = route(hash);
  return html`
    <header class="topbar">
      <a class="brand" href="#/"><span class="brand-mark">≈</span> Tidemark</a>
      <span class="project">${health.data?.project ?? ''}</span>
      <nav>${TABS.map(([id, label, href]) => html`<a class=${tab === id ? 'active' : ''} href=${href}>${label}</a>`)}</nav>
      <span class="spacer"></span>
      <${LiveIndicator} />
      <${TokenControl} />
    </header>
    <main class="page">${view}</main>
  `;
}

connectLive();
const root = document.getElementById('app');
root.textContent = ''; // the "Loading…" placeholder: render() would keep it beside the app
render(html`<${App} />`, root);
