// Small formatting helpers shared by the pages.

export const fmtInt = (n) => (n === null || n === undefined ? '—' : Number(n).toLocaleString('en-US'));

export function fmtNum(n) {
  if (n === null || n === undefined || n === '') return '—';
  const v = Number(n);
  if (!Number.isFinite(v)) return String(n);
  return Math.abs(v) >= 1000 || Number.isInteger(v) ? v.toLocaleString('en-US', { maximumFractionDigits: 0 }) : v.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

/** Compact axis labels: 1.2k, 3.4M. */
export function fmtShort(n) {
  const v = Number(n);
  const a = Math.abs(v);
  if (a >= 1e9) return `${+(v / 1e9).toFixed(1)}B`;
  if (a >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (a >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(1)}`;
}

export function fmtTime(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toISOString().replace('T', ' ').slice(0, 19) + 'Z';
}

export function fmtDelta(before, after) {
  if (before === null || before === undefined || after === null || after === undefined) return '—';
  const d = Number(after) - Number(before);
  if (d === 0) return '0';
  const pct = Number(before) !== 0 ? ` (${d > 0 ? '+' : ''}${((d / Math.abs(Number(before))) * 100).toFixed(1)}%)` : '';
  return `${d > 0 ? '+' : ''}${fmtNum(d)}${pct}`;
}

export const shortHash = (h) => (h ? String(h).slice(0, 12) : '—');

/** Sorted partition keys as ranges of consecutive keys, like the CLI: 2026-04-24..2026-04-30, 2026-05-02. */
export function ranges(keys, consecutive = isNextKey) {
  const sorted = [...keys].sort();
  const out = [];
  let start = null;
  let prev = null;
  for (const k of sorted) {
    if (start !== null && consecutive(prev, k)) {
      prev = k;
      continue;
    }
    if (start !== null) out.push(start === prev ? start : `${start}..${prev}`);
    start = prev = k;
  }
  if (start !== null) out.push(start === prev ? start : `${start}..${prev}`);
  return out.join(', ');
}

/** Whether key b follows key a at the grain both are written in (day, month as YYYY-MM-01, hour). */
function isNextKey(a, b) {
  const at = (k) => (/^\d{4}-\d{2}-\d{2}T\d{2}$/.test(k) ? Date.parse(`${k}:00:00Z`) : /^\d{4}-\d{2}-\d{2}$/.test(k) ? Date.parse(`${k}T00:00:00Z`) : NaN);
  const ta = at(a ?? '');
  const tb = at(b);
  if (Number.isNaN(ta) || Number.isNaN(tb) || a.length !== b.length) return false;
  if (a.length === 13) return tb - ta === 3_600_000;
  if (tb - ta === 86_400_000) return true;
  // Month partitions are keyed by their first day: 2026-01-01 then 2026-02-01.
  const da = new Date(ta);
  return a.endsWith('-01') && b.endsWith('-01') && Date.UTC(da.getUTCFullYear(), da.getUTCMonth() + 1, 1) === tb;
}

/** Groups items by a key, keeping first-seen order. */
export function groupBy(items, key) {
  const out = new Map();
  for (const item of items) {
    const k = key(item);
    if (!out.has(k)) out.set(k, []);
    out.get(k).push(item);
  }
  return out;
}
