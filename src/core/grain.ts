/**
 * Partition arithmetic. A partition is identified by its key, an ISO string: `2026-03-07` for a
 * day, `2026-03-07T13` for an hour, and the first day `2026-03-01` for a month. All arithmetic is
 * done in UTC on plain strings so that it is pure, fast and independent of the machine's zone.
 */
import { TidemarkError } from '../errors.js';

export type Grain = 'hour' | 'day' | 'month';
export const GRAINS: readonly Grain[] = ['hour', 'day', 'month'];
const GRAIN_RANK: Record<Grain, number> = { hour: 0, day: 1, month: 2 };

export type PartitionKey = string;

/** A half-open window [start, end) as ISO strings (`2026-03-07` or `2026-03-07T13:00:00`). */
export interface Window {
  start: string;
  end: string;
}

const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;
const HOUR_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2})(?::00(?::00)?)?$/;
const MONTH_RE = /^(\d{4})-(\d{2})$/;

function pad(n: number, width = 2): string {
  return String(n).padStart(width, '0');
}

/** Milliseconds since the epoch of an hour or day key (a month key is its first day). */
function instantOf(key: string): number {
  const day = DAY_RE.exec(key);
  if (day) return Date.UTC(+day[1], +day[2] - 1, +day[3]);
  const hour = HOUR_RE.exec(key);
  if (hour) return Date.UTC(+hour[1], +hour[2] - 1, +hour[3], +hour[4]);
  throw new TidemarkError('BAD_DATE', `malformed date '${key}'`);
}

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/**
 * Partition arithmetic works on ordinals: hours or days since the epoch, or months since year 0, so
 * adding n partitions is adding n. Planning does this for every partition of every dataset, which is
 * why it avoids building a Date per step.
 */
function ordinalOf(key: string, grain: Grain): number {
  const t = instantOf(key);
  if (grain === 'hour') return Math.floor(t / HOUR_MS);
  if (grain === 'day') return Math.floor(t / DAY_MS);
  const d = new Date(t);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

/** Day keys by day ordinal: formatting is the costly half of arithmetic, and keys repeat a lot. */
const dayKeys = new Map<number, string>();

function dayKeyOf(day: number): string {
  let key = dayKeys.get(day);
  if (key === undefined) {
    if (dayKeys.size > 100_000) dayKeys.clear();
    dayKeys.set(day, (key = formatDay(new Date(day * DAY_MS))));
  }
  return key;
}

function keyOfOrdinal(n: number, grain: Grain): PartitionKey {
  if (grain === 'day') return dayKeyOf(n);
  if (grain === 'hour') return `${dayKeyOf(Math.floor(n / 24))}T${pad(((n % 24) + 24) % 24)}`;
  const year = Math.floor(n / 12);
  return `${year}-${pad(n - year * 12 + 1)}-01`;
}

function formatDay(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

function formatKey(d: Date, grain: Grain): PartitionKey {
  if (grain === 'hour') return `${formatDay(d)}T${pad(d.getUTCHours())}`;
  if (grain === 'month') return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-01`;
  return formatDay(d);
}

/**
 * Parses a user-given date into the key of the partition of `grain` that contains it. Accepts
 * `2026-03-07`, `2026-03-07T13`, `2026-03-07T13:00:00` and, for months, `2026-03`. Impossible
 * dates (`2026-02-30`) are refused, not rolled over.
 */
export function parsePartitionKey(input: string, grain: Grain): PartitionKey {
  const text = input.trim();
  let date: Date;
  let parts: number[];
  const month = MONTH_RE.exec(text);
  const day = DAY_RE.exec(text);
  const hour = HOUR_RE.exec(text);
  if (hour) parts = [+hour[1], +hour[2], +hour[3], +hour[4]];
  else if (day) parts = [+day[1], +day[2], +day[3], 0];
  else if (month && grain === 'month') parts = [+month[1], +month[2], 1, 0];
  else {
    const example = grain === 'hour' ? '2026-03-07T13' : grain === 'month' ? '2026-03' : '2026-03-07';
    throw new TidemarkError('BAD_DATE', `malformed date '${input}'`, { hint: `use an ISO date such as ${example}` });
  }
  const [y, m, d, h] = parts;
  date = new Date(Date.UTC(y, m - 1, d, h));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d || h > 23) {
    throw new TidemarkError('BAD_DATE', `impossible date '${input}'`, { hint: impossibleDateHint(y, m, h) });
  }
  if (hour && grain !== 'hour') {
    throw new TidemarkError('BAD_DATE', `'${input}' names an hour but the dataset is partitioned by ${grain}`, {
      hint: `use a date such as ${formatDay(date)}`,
    });
  }
  return truncateKey(formatKey(date, 'hour'), grain);
}

/** What is wrong with a date that has the right shape: the month, the day of that month, or the hour. */
function impossibleDateHint(year: number, month: number, hour: number): string {
  if (month < 1 || month > 12) return 'months run 01..12';
  if (hour > 23) return 'hours run 00..23';
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate();
  return `${year}-${String(month).padStart(2, '0')} has ${days} days`;
}

/** True if `key` is exactly a well-formed key of `grain`. */
export function isPartitionKey(key: string, grain: Grain): boolean {
  try {
    return parsePartitionKey(key, grain) === key;
  } catch {
    return false;
  }
}

/** The key of the `grain` partition that contains the instant or partition `key`. */
export function truncateKey(key: string, grain: Grain): PartitionKey {
  return keyOfOrdinal(ordinalOf(key, grain), grain);
}

/** The key `n` partitions of `grain` after (or, negative, before) the one containing `key`. */
export function addPartitions(key: PartitionKey, grain: Grain, n: number): PartitionKey {
  return keyOfOrdinal(ordinalOf(key, grain) + n, grain);
}

/** The half-open window of a partition, as ISO strings. */
export function windowOf(key: PartitionKey, grain: Grain): Window {
  const end = addPartitions(key, grain, 1);
  return { start: isoInstant(key, grain), end: isoInstant(end, grain) };
}

function isoInstant(key: PartitionKey, grain: Grain): string {
  return grain === 'hour' ? `${key.slice(0, 10)} ${key.slice(11, 13)}:00:00` : key;
}

/** Every key from `from` to `to`, inclusive. */
export function partitionRange(from: PartitionKey, to: PartitionKey, grain: Grain): PartitionKey[] {
  if (from > to) return [];
  const keys: PartitionKey[] = [];
  for (let k = from; k <= to; k = addPartitions(k, grain, 1)) keys.push(k);
  return keys;
}

/** Keys of `grain` whose windows overlap the window [start, end) of another grain's partition. */
export function partitionsOverlapping(key: PartitionKey, keyGrain: Grain, grain: Grain): PartitionKey[] {
  // Same grain: the partition itself (the common case, on every partition of every plan).
  if (keyGrain === grain) return [truncateKey(key, grain)];
  const end = instantOf(addPartitions(key, keyGrain, 1));
  const out: PartitionKey[] = [];
  for (let n = ordinalOf(key, grain); ; n++) {
    const k = keyOfOrdinal(n, grain);
    if (instantOf(k) >= end) break;
    out.push(k);
  }
  return out;
}

/** Compares two keys of possibly different grains as instants. */
export function compareInstants(a: PartitionKey, b: PartitionKey): number {
  return instantOf(a) - instantOf(b);
}

export function isCoarser(a: Grain, b: Grain): boolean {
  return GRAIN_RANK[a] > GRAIN_RANK[b];
}

/** Orders keys of one grain; ISO keys of one grain sort lexically. */
export function sortKeys(keys: Iterable<PartitionKey>): PartitionKey[] {
  return [...new Set(keys)].sort();
}
