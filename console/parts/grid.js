// The partition grid: one cell per partition, coloured by state, laid out like a calendar — a row per
// month for day partitions (columns are days), a row per day for hours, a row per year for months.
// Click a cell to see it; shift-click another to select the range between them.
import { html, PARTITION_STATES } from './ui.js';
import { fmtInt, groupBy } from './format.js';

/** Row label and column (0-based) of a partition key at its grain. */
function place(key, grain) {
  if (grain === 'hour') return { row: key.slice(0, 10), col: Number(key.slice(11, 13)) };
  if (grain === 'month') return { row: key.slice(0, 4), col: Number(key.slice(5, 7)) - 1 };
  return { row: key.slice(0, 7), col: Number(key.slice(8, 10)) - 1 };
}

const COLUMNS = { hour: 24, day: 31, month: 12 };
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function columnLabel(grain, i) {
  if (grain === 'month') return MONTHS[i];
  if (grain === 'hour') return i % 3 === 0 ? String(i).padStart(2, '0') : '';
  return (i + 1) % 5 === 0 || i === 0 ? String(i + 1) : '';
}

function rowLabel(grain, row) {
  if (grain === 'day') return `${MONTHS[Number(row.slice(5, 7)) - 1]} ${row.slice(0, 4)}`;
  return row;
}

export function describePartition(p) {
  const lines = [`${p.partition} — ${p.state}`];
  if (p.version !== null) lines.push(`version ${p.version} · ${fmtInt(p.rows)} rows`, `checksum ${p.checksum}`, `run ${p.run_id}`);
  if (p.actor) lines.push(`by ${p.actor}: ${p.reason}`);
  for (const r of p.stale_reasons ?? []) lines.push(`stale: ${r}`);
  if (p.protected?.length) lines.push(`protected: ${p.protected.join(', ')}`);
  return lines.join('\n');
}

export function PartitionGrid({ partitions, grain, selection, onSelect }) {
  const cols = COLUMNS[grain] ?? 31;
  const rows = groupBy(partitions, (p) => place(p.partition, grain).row);
  const inRange = (k) => selection && selection.from && selection.to && k >= selection.from && k <= selection.to;
  return html`<div class="grid" style=${`--cols:${cols}`} data-testid="partition-grid">
    <div class="grid-row grid-header">
      <span class="grid-label"></span>
      ${Array.from({ length: cols }, (_, i) => html`<span class="grid-col-label">${columnLabel(grain, i)}</span>`)}
    </div>
    ${[...rows].map(([row, items]) => {
      const cells = new Array(cols).fill(null);
      for (const p of items) cells[place(p.partition, grain).col] = p;
      return html`<div class="grid-row">
        <span class="grid-label">${rowLabel(grain, row)}</span>
        ${cells.map((p, i) =>
          p
            ? html`<button
                type="button"
                class=${`cell state-${p.state} ${selection?.focus === p.partition ? 'focus' : ''} ${inRange(p.partition) ? 'in-range' : ''}`}
                title=${describePartition(p)}
                aria-label=${`${p.partition} ${p.state}`}
                data-partition=${p.partition}
                data-state=${p.state}
                onClick=${(e) => onSelect(p, e.shiftKey)}
              ></button>`
            : html`<span class="cell cell-none" key=${i}></span>`,
        )}
      </div>`;
    })}
  </div>`;
}

export function Legend({ partitions }) {
  const counts = new Map();
  for (const p of partitions ?? []) counts.set(p.state, (counts.get(p.state) ?? 0) + 1);
  return html`<ul class="legend" aria-label="partition states">
    ${PARTITION_STATES.map(
      ([state, label]) => html`<li class=${counts.get(state) ? '' : 'legend-zero'}>
        <span class=${`swatch state-${state}`}></span>${label}<span class="legend-count">${counts.get(state) ?? 0}</span>
      </li>`,
    )}
  </ul>`;
}
