// The "shop" example project scaffolded by `tidemark init DIR --example shop`.
//
// Static files (tidemark.yaml and models/*.sql) live in <package root>/examples/shop and are
// copied as they are. The data files are generated here, deterministically: the same day always
// yields byte-identical CSV, on every machine and every run, so the demo (and tests built on
// it) are reproducible. Only node built-ins are used.

import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';
import { TidemarkError } from '../errors.js';

/** First day of generated data (inclusive). */
export const SHOP_FIRST_DAY = '2026-01-01';
/** Number of generated days: 2026-01-01 .. 2026-04-30. */
export const SHOP_DAYS = 120;

/** How many trailing days get an "upstream data fix" file under data/fixes/. */
const FIX_DAYS = 7;

const MS_PER_DAY = 86_400_000;
const DAY_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

// ---------------------------------------------------------------------------------------------
// Dates (UTC calendar days as 'YYYY-MM-DD')

/** Days since 1970-01-01 for an ISO day; throws on anything that is not a real calendar day. */
function epochDay(day: string): number {
  const m = DAY_RE.exec(day);
  if (!m) throw new Error(`invalid day '${day}': expected YYYY-MM-DD`);
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  if (formatEpochDay(ms / MS_PER_DAY) !== day) throw new Error(`invalid day '${day}': not a calendar date`);
  return ms / MS_PER_DAY;
}

function formatEpochDay(n: number): string {
  return new Date(n * MS_PER_DAY).toISOString().slice(0, 10);
}

function addDays(day: string, n: number): string {
  return formatEpochDay(epochDay(day) + n);
}

// ---------------------------------------------------------------------------------------------
// Deterministic randomness

/** 32-bit FNV-1a hash of a string, used as a PRNG seed. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** mulberry32: tiny, fast, good-enough PRNG returning floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal sample (Box–Muller) from a uniform PRNG. */
function gaussian(rng: () => number): number {
  const u = 1 - rng(); // (0, 1], avoids log(0)
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

// ---------------------------------------------------------------------------------------------
// Orders

interface CurrencySpec {
  code: 'USD' | 'EUR' | 'GBP';
  /** Cumulative probability bound for picking this currency. */
  cumulative: number;
  /** Median order amount in cents of this currency. */
  medianCents: number;
}

// USD 60%, EUR 25%, GBP 15%.
const CURRENCIES: readonly CurrencySpec[] = [
  { code: 'USD', cumulative: 0.6, medianCents: 4_800 },
  { code: 'EUR', cumulative: 0.85, medianCents: 4_200 },
  { code: 'GBP', cumulative: 1, medianCents: 3_900 },
];

/**
 * The upstream bug that the fix files correct: EUR orders were recorded with amount_cents 10%
 * too high. The regular files carry the bug; `fix: true` yields the corrected amounts.
 */
const EUR_BUG_FACTOR = 1.1;

const ORDERS_HEADER = 'order_id,customer_id,amount_cents,currency,status,order_date';

/**
 * One day of orders as CSV (header `order_id,customer_id,amount_cents,currency,status,order_date`).
 * About 2,000 orders (weekdays ~2,050, weekends ~1,850, ±5% per day). `order_id` is
 * `daysSince1970 * 100000 + n`, so it is unique across days and stable across runs.
 * `fix: true` is the corrected re-delivery of the same day: identical rows except that EUR
 * orders' amount_cents no longer carry the +10% bug.
 */
export function generateOrdersCsv(day: string, opts: { fix?: boolean } = {}): string {
  const dayNum = epochDay(day);
  const rng = mulberry32(fnv1a(`tidemark-shop:orders:${day}`));
  const weekday = (dayNum + 4) % 7; // 1970-01-01 was a Thursday; 0 = Sunday, 6 = Saturday
  const weekend = weekday === 0 || weekday === 6;
  const count = Math.round((weekend ? 1_850 : 2_050) * (1 + (rng() * 2 - 1) * 0.05));

  const lines: string[] = [ORDERS_HEADER];
  for (let n = 1; n <= count; n++) {
    const orderId = dayNum * 100_000 + n;
    // Skewed towards low ids: a core of repeat customers plus a long tail.
    const c = rng();
    const customerId = 1_000 + Math.floor(40_000 * c * c);
    const pick = rng();
    const cur = CURRENCIES.find((spec) => pick < spec.cumulative) ?? CURRENCIES[0];
    // Log-normal basket size, clamped to a sane range.
    const trueCents = Math.min(250_000, Math.max(199, Math.round(cur.medianCents * Math.exp(0.6 * gaussian(rng)))));
    const s = rng();
    const status = s < 0.9 ? 'paid' : s < 0.94 ? 'refunded' : 'pending';
    const amountCents = cur.code === 'EUR' && !opts.fix ? Math.round(trueCents * EUR_BUG_FACTOR) : trueCents;
    lines.push(`${orderId},${customerId},${amountCents},${cur.code},${status},${day}`);
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// FX rates

const FX_BASE: ReadonlyArray<{ code: string; base: number; phase: number }> = [
  { code: 'EUR', base: 1.08, phase: 0.3 },
  { code: 'GBP', base: 1.27, phase: 2.1 },
];

/**
 * One day of FX rates as CSV (header `rate_date,currency,usd_per_unit`): USD = 1.0, and EUR and
 * GBP drifting smoothly (a slow wave of ±1.5% plus ±0.3% daily noise).
 */
export function generateFxCsv(day: string): string {
  const dayNum = epochDay(day);
  const rng = mulberry32(fnv1a(`tidemark-shop:fx:${day}`));
  const lines = ['rate_date,currency,usd_per_unit', `${day},USD,1.0`];
  for (const { code, base, phase } of FX_BASE) {
    const rate = base * (1 + 0.015 * Math.sin(dayNum / 23 + phase) + 0.003 * (rng() * 2 - 1));
    lines.push(`${day},${code},${rate.toFixed(6)}`);
  }
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------
// Scaffolding

async function copyDir(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  for (const entry of await readdir(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = path.join(to, entry.name);
    if (entry.isDirectory()) await copyDir(src, dst);
    else if (entry.isFile()) await copyFile(src, dst);
  }
}

function readme(): string {
  const lastDay = addDays(SHOP_FIRST_DAY, SHOP_DAYS - 1);
  const firstFix = addDays(lastDay, -(FIX_DAYS - 1));
  return `# shop — a Tidemark example

A small online shop: raw \`orders\` and daily \`fx_rates\` (sources, as CSV files under \`data/\`)
feed three SQL models in \`models/\`: \`daily_revenue\` → \`revenue_7d\` (rolling 7 days) and
\`monthly_revenue\`. Data covers ${SHOP_FIRST_DAY} to ${lastDay}, about 2,000 orders a day.
Everything is configured in \`tidemark.yaml\`.

## 1. Load the sources and build everything

    tidemark ingest orders data/orders/*.csv
    tidemark ingest fx_rates data/fx_rates/*.csv
    tidemark run
    tidemark partitions daily_revenue
    tidemark query "SELECT * FROM revenue_7d WHERE day = DATE '${lastDay}' ORDER BY currency"

Running \`tidemark run\` again does nothing: every partition is up to date.

## 2. An upstream fix for the last ${FIX_DAYS} days

EUR orders from ${firstFix} to ${lastDay} were recorded 10% too high. \`data/fixes/\` holds the
corrected files. See what a scoped backfill would touch (and nothing else), then load the
fix and run it:

    tidemark plan daily_revenue --from ${firstFix} --to ${lastDay} --downstream
    cp data/fixes/*.csv data/orders/
    tidemark ingest orders data/orders/*.csv      # only the ${FIX_DAYS} changed files are reloaded
    tidemark backfill daily_revenue --from ${firstFix} --to ${lastDay} --downstream --reason "EUR amount fix" --yes

(\`tidemark run\` would also find exactly those stale partitions on its own.)

## 3. Inspect, audit, undo

    tidemark history daily_revenue --partition ${lastDay}
    tidemark diff RUN_ID                          # run id printed by the backfill
    tidemark audit verify
    tidemark restore daily_revenue --run RUN_ID --from ${firstFix} --to ${lastDay} --reason "demo undo"
`;
}

/**
 * The top-level entries of `dir` that scaffolding the example would write into: init refuses to
 * overwrite anything (a folder with only unrelated files, such as `.git`, is fine).
 */
export function shopExampleCollisions(dir: string): string[] {
  const target = path.resolve(dir);
  if (!existsSync(target)) return [];
  const writes = new Set([...readdirSync(path.join(PACKAGE_ROOT, 'examples', 'shop')), 'README.md', 'data']);
  return readdirSync(target).filter((entry) => writes.has(entry)).sort();
}

/**
 * Scaffold the shop example into `dir` (created if missing): tidemark.yaml, models/, a README,
 * and generated data: data/orders/orders-DAY.csv and data/fx_rates/fx-DAY.csv for each of the
 * SHOP_DAYS days, plus data/fixes/orders-DAY.csv (the corrected variant) for the last 7 days.
 * Refuses, writing nothing, a directory that holds any of the files it would write.
 */
export async function scaffoldShopExample(dir: string): Promise<void> {
  const target = path.resolve(dir);
  const collisions = shopExampleCollisions(target);
  if (collisions.length) {
    throw new TidemarkError('USAGE', `${target} already has ${collisions.join(', ')}: init would overwrite ${collisions.length === 1 ? 'it' : 'them'}`, { hint: 'choose a new or empty folder' });
  }
  const source = path.join(PACKAGE_ROOT, 'examples', 'shop');

  await copyDir(source, target);
  const ordersDir = path.join(target, 'data', 'orders');
  const fxDir = path.join(target, 'data', 'fx_rates');
  const fixesDir = path.join(target, 'data', 'fixes');
  await Promise.all([ordersDir, fxDir, fixesDir].map((d) => mkdir(d, { recursive: true })));

  const writes: Promise<void>[] = [writeFile(path.join(target, 'README.md'), readme())];
  for (let i = 0; i < SHOP_DAYS; i++) {
    const day = addDays(SHOP_FIRST_DAY, i);
    writes.push(writeFile(path.join(ordersDir, `orders-${day}.csv`), generateOrdersCsv(day)));
    writes.push(writeFile(path.join(fxDir, `fx-${day}.csv`), generateFxCsv(day)));
    if (i >= SHOP_DAYS - FIX_DAYS) {
      writes.push(writeFile(path.join(fixesDir, `orders-${day}.csv`), generateOrdersCsv(day, { fix: true })));
    }
  }
  await Promise.all(writes);
}
