// Datasets: the dependency graph and, per dataset, how its partitions stand.
import { html, Card, ErrorBox, Loading, Badge } from '../parts/ui.js';
import { DependencyGraph } from '../parts/dag.js';
import { fmtInt } from '../parts/format.js';
import { useResource } from '../api.js';

export function DatasetsPage() {
  const { data, error } = useResource('/api/project');
  if (error) return html`<${ErrorBox} error=${error} />`;
  if (!data) return html`<${Loading} />`;
  return html`
    <${Card} title="Dependency graph">
      <div class="dag-wrap"><${DependencyGraph} datasets=${data.datasets} /></div>
      <p class="hint">Sources on the left; an arrow points from a dataset to the models that read it. Click a dataset for its partitions.</p>
    <//>
    <${Card} title="Datasets">
      <table class="table" data-testid="datasets-table">
        <thead>
          <tr><th>Dataset</th><th>Kind</th><th>Grain</th><th class="num">Partitions</th><th class="num">Published</th><th class="num">Stale</th><th class="num">Missing</th><th class="num">Failed</th><th class="num">Rows</th><th>Range</th><th>Complete through</th></tr>
        </thead>
        <tbody>
          ${data.datasets.map(
            (d) => html`<tr>
              <td><a href=${`#/datasets/${encodeURIComponent(d.dataset)}`}><strong>${d.dataset}</strong></a></td>
              <td><${Badge} tone=${d.kind === 'source' ? 'muted' : 'info'}>${d.kind}<//></td>
              <td>${d.grain}</td>
              <td class="num">${fmtInt(d.partitions)}</td>
              <td class="num">${fmtInt(d.published)}</td>
              <td class="num">${d.stale ? html`<${Badge} tone="warn">${d.stale}<//>` : '0'}</td>
              <td class="num">${fmtInt(d.missing)}</td>
              <td class="num">${d.failed ? html`<${Badge} tone="bad">${d.failed}<//>` : '0'}</td>
              <td class="num">${fmtInt(d.rows)}</td>
              <td class="mono">${d.first ? `${d.first} … ${d.last}` : '—'}</td>
              <td class="mono" data-testid=${`complete-through-${d.dataset}`}>${d.incomplete_at ? html`<${Badge} tone="warn" title=${incompleteTitle(d)}>${d.complete_through ?? '—'}<//>` : (d.complete_through ?? '—')}</td>
            </tr>`,
          )}
        </tbody>
      </table>
    <//>
  `;
}

/** Where a dataset's watermark stops and why (status's `incomplete_at`), as the tooltip of its cell. */
function incompleteTitle(d) {
  const at = d.incomplete_at;
  if (!at) return '';
  const gaps = d.gaps ? ` (${d.gaps} gap${d.gaps === 1 ? '' : 's'}, the first ${d.first_gap})` : '';
  if (at.state === 'no_data') return `no data for ${at.partition}${gaps}`;
  if (at.state === 'failed') return `${at.partition} failed${at.failed_run ? ` in run ${at.failed_run}` : ''}${gaps}`;
  return `${at.partition} is ${at.state}${at.why.length ? `: ${at.why.join('; ')}` : ''}${gaps}`;
}
