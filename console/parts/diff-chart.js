// The diff of a run as a chart: per partition, the sum of one numeric column before and after the
// run (from diffRun's sums), as paired bars. Hover a bar for the exact values.
import { html } from './ui.js';
import { fmtDelta, fmtNum, fmtShort } from './format.js';

const H = 240;
const TOP = 16;
const BOTTOM = 46;
const LEFT = 64;
const RIGHT = 16;

/** A "nice" upper bound and step for an axis that must show `max`. */
function niceScale(max) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  return { top: step * Math.ceil(max / step), step };
}

export function DiffChart({ partitions, metric }) {
  const points = partitions.map((p) => ({
    partition: p.partition,
    before: p.sums?.[metric]?.before === null || p.sums?.[metric]?.before === undefined ? null : Number(p.sums[metric].before),
    after: p.sums?.[metric]?.after === null || p.sums?.[metric]?.after === undefined ? null : Number(p.sums[metric].after),
  }));
  const max = Math.max(0, ...points.flatMap((p) => [p.before ?? 0, p.after ?? 0]));
  const { top, step } = niceScale(max);
  const group = Math.max(28, Math.min(110, 1100 / Math.max(1, points.length)));
  const width = LEFT + RIGHT + group * points.length;
  const plotH = H - TOP - BOTTOM;
  const y = (v) => TOP + plotH - (v / top) * plotH;
  const bar = Math.max(6, (group - 10) / 2);
  const ticks = [];
  for (let v = 0; v <= top + step / 2; v += step) ticks.push(v);
  const shortKey = (k) => (/^\d{4}-\d{2}-\d{2}$/.test(k) ? k.slice(5) : k);

  return html`<figure class="chart">
    <svg viewBox=${`0 0 ${width} ${H}`} width=${width} height=${H} role="img" aria-label=${`sum of ${metric} before and after, per partition`} data-testid="diff-chart">
      ${ticks.map(
        (v) => html`<g>
          <line x1=${LEFT} x2=${width - RIGHT} y1=${y(v)} y2=${y(v)} class="chart-grid" />
          <text x=${LEFT - 8} y=${y(v) + 4} class="chart-tick" text-anchor="end">${fmtShort(v)}</text>
        </g>`,
      )}
      ${points.map((p, i) => {
        const x = LEFT + i * group + (group - bar * 2 - 2) / 2;
        return html`<g class="chart-group">
          <title>${p.partition}\nbefore ${fmtNum(p.before)}\nafter ${fmtNum(p.after)}\nchange ${fmtDelta(p.before, p.after)}</title>
          ${p.before === null ? null : html`<rect x=${x} y=${y(p.before)} width=${bar} height=${Math.max(0, y(0) - y(p.before))} class="bar-before" />`}
          ${p.after === null ? null : html`<rect x=${x + bar + 2} y=${y(p.after)} width=${bar} height=${Math.max(0, y(0) - y(p.after))} class="bar-after" />`}
          <text x=${LEFT + i * group + group / 2} y=${H - BOTTOM + 16} class="chart-tick" text-anchor="middle">${shortKey(p.partition)}</text>
        </g>`;
      })}
      <line x1=${LEFT} x2=${width - RIGHT} y1=${y(0)} y2=${y(0)} class="chart-axis" />
    </svg>
    <figcaption class="chart-legend">
      <span><span class="swatch bar-before"></span>Before the run</span>
      <span><span class="swatch bar-after"></span>After the run</span>
      <span class="muted">sum of <code>${metric}</code> per partition</span>
    </figcaption>
  </figure>`;
}
