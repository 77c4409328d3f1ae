/**
 * sql: one statement run on the warehouse after a publish, e.g. refreshing a summary table or a
 * materialized view. It runs on its own, after the publish committed: the publish never depends on it.
 */
import type { ConsumerConfig } from '../../config/schema.js';
import type { Engine } from '../../engines/engine.js';
import { DeliveryError } from './delivery-error.js';

type SqlConfig = Extract<ConsumerConfig, { kind: 'sql' }>;

export async function runStatement(c: SqlConfig, engine: Engine): Promise<void> {
  try {
    await engine.exec(c.sql);
  } catch (error) {
    throw new DeliveryError(error instanceof Error ? error.message : String(error));
  }
}
