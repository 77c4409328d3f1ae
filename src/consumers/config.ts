/**
 * The consumer-specific parts of tidemark.yaml, validated with zod (src/config/schema.ts uses these),
 * and the small questions the dispatcher asks about a consumer: which events it takes, how often it
 * is retried, which datasets it follows.
 */
import * as z from 'zod';
import type { Project } from '../config/project.js';
import type { ConsumerConfig } from '../config/schema.js';

/**
 * `verify`: how to read what a consumer serves for one partition, and the warehouse query it must
 * agree with. `{partition}` / `{dataset}` in the URL and `$1` (partition) / `$2` (dataset) in SQL are
 * filled in per affected partition.
 */
const verifyHttp = z.strictObject({
  http: z.string().regex(/^https?:\/\//, 'expected an http(s) URL, e.g. http://127.0.0.1:8080/dashboard/{partition}'),
  /** Dot path of the value in the JSON response (`value`, `data.total`). */
  field: z.string().min(1).default('value'),
  warehouse: z.string().min(1),
  /** Numbers may differ by this much (absolute) and still agree. */
  tolerance: z.number().nonnegative().default(0),
});
const verifySql = z.strictObject({
  sql: z.string().min(1),
  warehouse: z.string().min(1),
  tolerance: z.number().nonnegative().default(0),
});
export const verifyConfigSchema = z.union([verifyHttp, verifySql]);
export type VerifyConfig = z.infer<typeof verifyConfigSchema>;

/** Delivery settings every kind shares: dead-lettered after `max_attempts`, retried with exponential backoff. */
export const retrySettings = {
  max_attempts: z.number().int().positive().default(5),
  backoff_ms: z.number().int().nonnegative().default(1000),
};

export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_MS = 1000;
/** Backoff never grows past this, however many attempts. */
const MAX_BACKOFF_MS = 5 * 60_000;

export function maxAttempts(c: ConsumerConfig): number {
  return c.max_attempts ?? DEFAULT_MAX_ATTEMPTS;
}

/** Wait before the attempt after `attempts` failed ones: backoff, 2×, 4×… capped. */
export function backoffMs(c: ConsumerConfig, attempts: number): number {
  const base = c.backoff_ms ?? DEFAULT_BACKOFF_MS;
  return Math.min(MAX_BACKOFF_MS, base * 2 ** Math.max(0, attempts - 1));
}

export function timeoutMs(c: ConsumerConfig): number {
  return 'timeout_ms' in c && c.timeout_ms ? c.timeout_ms : 30_000;
}

export function isPauseConsumer(c: ConsumerConfig): boolean {
  return c.kind === 'webhook' && c.pause === true;
}

/**
 * A SQL refresh or a ready-marker only makes sense after a publish; a webhook or a command is told
 * about every event and decides for itself.
 */
export function acceptsEvent(c: ConsumerConfig, eventType: string): boolean {
  if (c.kind === 'sql' || c.kind === 'file') return eventType === 'run.published';
  return true;
}

/** Datasets each consumer follows (from `datasets.X.consumers`). */
/** Whether the project declares any consumer: without one, fan-out and completion look nothing up. */
export function hasConsumers(project: Project): boolean {
  return Object.keys(project.consumers).length > 0;
}

export function subscriptions(project: Project): Map<string, string[]> {
  const out = new Map<string, string[]>(Object.keys(project.consumers).map((c) => [c, []]));
  for (const name of project.order) for (const c of project.datasets.get(name)!.consumers) out.get(c)?.push(name);
  return out;
}

/** What a consumer points at, for listings: never the secret, and env-interpolated values redacted. */
export function describeTarget(c: ConsumerConfig, redact: (s: string) => string): string {
  switch (c.kind) {
    case 'webhook':
      return redact(`POST ${c.url}`);
    case 'command':
      return redact(c.command);
    case 'sql':
      return redact(c.sql);
    case 'file':
      return redact(c.path);
  }
}
