// The dependency graph as an SVG: one column per topological level (sources first), edges from an
// upstream dataset to the models that read it. Clicking a node opens its partition grid.
import { html } from './ui.js';

const NODE_W = 190;
const NODE_H = 58;
const COL_GAP = 80;
const ROW_GAP = 20;
const PAD = 16;

/** Level of each dataset: 0 for sources, else one more than its deepest upstream. */
export function levels(datasets) {
  const byName = new Map(datasets.map((d) => [d.dataset, d]));
  const level = new Map();
  const visit = (name, seen = new Set()) => {
    if (level.has(name)) return level.get(name);
    if (seen.has(name)) return 0; // a cycle cannot load, but never loop
    seen.add(name);
    const ups = (byName.get(name)?.upstream ?? []).map((u) => u.dataset).filter((u) => byName.has(u));
    const l = ups.length ? 1 + Math.max(...ups.map((u) => visit(u, seen))) : 0;
    level.set(name, l);
    return l;
  };
  for (const d of datasets) visit(d.dataset);
  return level;
}

export function DependencyGraph({ datasets, selected }) {
  const level = levels(datasets);
  const columns = [];
  for (const d of datasets) (columns[level.get(d.dataset)] ??= []).push(d);
  const pos = new Map();
  columns.forEach((col, x) =>
    col.forEach((d, y) => pos.set(d.dataset, { x: PAD + x * (NODE_W + COL_GAP), y: PAD + y * (NODE_H + ROW_GAP) })),
  );
  const width = PAD * 2 + columns.length * NODE_W + (columns.length - 1) * COL_GAP;
  const height = PAD * 2 + Math.max(...columns.map((c) => c.length)) * (NODE_H + ROW_GAP) - ROW_GAP;

  const edges = datasets.flatMap((d) =>
    (d.upstream ?? [])
      .filter((u) => pos.has(u.dataset))
      .map((u) => {
        const a = pos.get(u.dataset);
        const b = pos.get(d.dataset);
        const x1 = a.x + NODE_W;
        const y1 = a.y + NODE_H / 2;
        const x2 = b.x - 6;
        const y2 = b.y + NODE_H / 2;
        const mid = (x1 + x2) / 2;
        return html`<path class="dag-edge" d=${`M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`} marker-end="url(#arrow)">
          <title>${d.dataset} reads ${u.dataset}${u.lookback ? ` (lookback ${u.lookback})` : ''}</title>
        </path>`;
      }),
  );

  return html`<svg class="dag" viewBox=${`0 0 ${width} ${height}`} width=${width} height=${height} role="img" aria-label="dataset dependency graph">
    <defs>
      <marker id="arrow" viewBox="0 0 10 10" refX="8" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
        <path d="M0,0 L10,5 L0,10 z" class="dag-arrow" />
      </marker>
    </defs>
    ${edges}
    ${datasets.map((d) => {
      const p = pos.get(d.dataset);
      const attention = d.failed ? 'failed' : d.stale ? 'stale' : d.missing ? 'missing' : 'published';
      const summary = [d.stale ? `${d.stale} stale` : null, d.failed ? `${d.failed} failed` : null, d.missing ? `${d.missing} missing` : null].filter(Boolean).join(' · ');
      return html`<a href=${`#/datasets/${encodeURIComponent(d.dataset)}`} class=${`dag-node ${selected === d.dataset ? 'selected' : ''}`} data-testid=${`dag-node-${d.dataset}`}>
        <rect x=${p.x} y=${p.y} width=${NODE_W} height=${NODE_H} rx="8" class="dag-box" />
        <rect x=${p.x} y=${p.y} width="5" height=${NODE_H} rx="2" class=${`dag-flag state-fill-${attention}`} />
        <text x=${p.x + 16} y=${p.y + 22} class="dag-name">${d.dataset}</text>
        <text x=${p.x + 16} y=${p.y + 42} class="dag-meta">${d.kind} · ${d.grain} · ${summary || `${d.published} published`}</text>
      </a>`;
    })}
  </svg>`;
}
