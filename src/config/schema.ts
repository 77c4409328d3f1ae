/**
 * The shape of tidemark.yaml, validated with zod. Messages name the YAML path (`datasets.x.partition.grain`)
 * so a user can find the mistake; semantic checks that need the whole file (refs, cycles, model files)
 * live in load.ts.
 */
import * as z from 'zod';
import { GRAINS } from '../core/grain.js';
import { normalizeType, SUPPORTED_TYPES_HINT } from './types.js';
import { retrySettings, verifyConfigSchema } from '../consumers/config.js';
import { parseWindow } from '../core/run-window.js';

const identifier = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]{0,62}$/, 'expected an identifier: letters, digits and _, starting with a letter or _ (max 63)')
  .refine((s) => !s.toLowerCase().startsWith('_tm_'), 'names starting with _tm_ are reserved for Tidemark');

const isoDay = z.string().regex(/^\d{4}-\d{2}-\d{2}(T\d{2})?$/, 'expected an ISO date such as 2026-03-07');
// YAML turns an unquoted 2026-01-01 into a Date; accept it as the ISO day it was written as.
const dateValue = z.preprocess((v) => (v instanceof Date ? v.toISOString().slice(0, 10) : v), isoDay);

const columnType = z.string().refine((t) => normalizeType(t) !== null, {
  message: `unsupported column type; expected one of ${SUPPORTED_TYPES_HINT}`,
});
const columns = z.record(identifier, columnType);

const schemaVersion = z.strictObject({
  version: z.number().int().positive(),
  columns,
  adapt: z.record(identifier, z.string().min(1)).default({}),
});

const check = z.union([
  z.strictObject({ not_null: z.array(identifier).min(1) }),
  z.strictObject({ unique: z.array(identifier).min(1) }),
  z.strictObject({ accepted_values: z.strictObject({ column: identifier, values: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1) }) }),
  z.strictObject({ row_count: z.strictObject({ min: z.number().int().nonnegative().optional(), max: z.number().int().positive().optional() }) }),
  z.strictObject({ sql: z.string().min(1), name: z.string().optional() }),
]);

const protect = z.strictObject({
  frozen_before: dateValue.optional(),
  frozen: z.array(z.strictObject({ from: dateValue, to: dateValue, reason: z.string().optional() })).default([]),
  recent: z.number().int().nonnegative().optional(),
});

const dependency = z.strictObject({ lookback: z.number().int().nonnegative().default(0) });

const datasetBase = {
  description: z.string().optional(),
  partition: z.strictObject({ column: identifier, grain: z.enum(GRAINS as [string, ...string[]]) }),
  key: z.array(identifier).min(1, 'declare at least one key column'),
  protect: protect.optional(),
  consumers: z.array(identifier).default([]),
  checks: z.array(check).default([]),
};

/**
 * The field delimiter of a source's CSV files: one character both engines take (PostgreSQL's COPY wants
 * one byte, so ASCII), not the quote character nor a line break, and not a letter or digit.
 */
const csvDelimiter = z
  .string()
  .refine((d) => d.length === 1 && d.charCodeAt(0) < 128 && !/[A-Za-z0-9"\r\n\0]/.test(d), {
    message: 'expected one character such as ";", "|" or "\\t" (a tab: double quotes in YAML); not a letter, digit, double quote or line break',
  });

const source = z.strictObject({
  ...datasetBase,
  kind: z.literal('source'),
  format: z.enum(['csv', 'parquet', 'ndjson']).optional(),
  /** For CSV files other than .tsv (always tab-separated): their delimiter, ',' when not declared. */
  csv: z.strictObject({ delimiter: csvDelimiter }).optional(),
  schema: z.strictObject({ current: columns, history: z.array(schemaVersion).default([]) }),
});

const model = z.strictObject({
  ...datasetBase,
  kind: z.literal('model'),
  sql: z.string().min(1),
  depends_on: z.record(identifier, dependency).default({}),
  depends_on_past: z.boolean().default(false),
  /** Output columns; needed by a depends_on_past model so its first partition can read its (empty) past. */
  columns: columns.optional(),
  incremental: z.strictObject({ cursor: identifier }).optional(),
  on_schema_change: z.enum(['fail', 'add_columns']).default('fail'),
});

const pool = z.strictObject({
  slots: z.number().int().positive().default(1),
  priority: z.number().int().default(0),
  threads: z.number().int().positive().optional(),
  memory_limit: z.string().regex(/^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$/i, 'expected a size such as 2GB').optional(),
  // The same rule as --window, so an impossible window (25:00-26:00) is a config error at load time.
  window: z
    .string()
    .superRefine((text, ctx) => {
      try {
        parseWindow(text);
      } catch (error) {
        ctx.addIssue({ code: 'custom', message: (error as Error).message });
      }
    })
    .optional(),
});

const consumer = z.discriminatedUnion('kind', [
  // http(s) only: fetch posts nowhere else (ftp://, file:// failed only at the first delivery, as "fetch failed").
  z.strictObject({ kind: z.literal('webhook'), url: z.string().url({ protocol: /^https?$/, error: 'expected an http:// or https:// address' }), secret: z.string().optional(), timeout_ms: z.number().int().positive().default(5000), required: z.boolean().default(true), pause: z.boolean().default(false), verify: verifyConfigSchema.optional(), ...retrySettings }),
  z.strictObject({ kind: z.literal('command'), command: z.string().min(1), timeout_ms: z.number().int().positive().default(30000), required: z.boolean().default(true), verify: verifyConfigSchema.optional(), ...retrySettings }),
  z.strictObject({ kind: z.literal('sql'), sql: z.string().min(1), required: z.boolean().default(true), verify: verifyConfigSchema.optional(), ...retrySettings }),
  z.strictObject({ kind: z.literal('file'), path: z.string().min(1), required: z.boolean().default(true), ...retrySettings }),
]);

export const projectSchema = z.strictObject({
  name: identifier,
  engine: z
    .discriminatedUnion('kind', [
      z.strictObject({ kind: z.literal('duckdb'), path: z.string().optional() }),
      z.strictObject({ kind: z.literal('postgres'), url: z.string().min(1), schema: identifier.default('tidemark_data') }),
    ])
    .default({ kind: 'duckdb' }),
  pools: z.record(identifier, pool).default({}),
  guards: z
    .strictObject({
      max_backfill_partitions: z.number().int().positive().default(90),
      max_shrink: z.number().min(0).max(1).default(0.5),
    })
    .default({ max_backfill_partitions: 90, max_shrink: 0.5 }),
  retention: z
    .strictObject({ versions: z.number().int().nonnegative().default(10), days: z.number().int().nonnegative().default(30) })
    .default({ versions: 10, days: 30 }),
  datasets: z.record(identifier, z.discriminatedUnion('kind', [source, model])),
  consumers: z.record(identifier, consumer).default({}),
});

export type ProjectFile = z.infer<typeof projectSchema>;
export type SourceFile = z.infer<typeof source>;
export type ModelFile = z.infer<typeof model>;
export type CheckConfig = z.infer<typeof check>;
export type PoolConfig = z.infer<typeof pool>;
export type ConsumerConfig = z.infer<typeof consumer>;
export type ProtectConfig = z.infer<typeof protect>;
