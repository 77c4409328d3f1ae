/** Global counters kept in `tidemark.meta`. */
import type { Db, Engine } from '../engines/engine.js';
import { stateTable } from './tables.js';

/**
 * Takes the next publish sequence number. Called first in every publish transaction: on Postgres the
 * row lock it takes serialises publishers, which the audit hash chain and the change feed rely on.
 */
export async function nextPublishSeq(tx: Db, engine: Engine): Promise<number> {
  const rows = await tx.query<{ value: string }>(
    `UPDATE ${stateTable(engine, 'meta')} SET value = CAST(CAST(value AS BIGINT) + 1 AS VARCHAR) WHERE key = 'publish_seq' RETURNING value`,
  );
  return Number(rows[0].value);
}

export async function currentPublishSeq(db: Db, engine: Engine): Promise<number> {
  const rows = await db.query<{ value: string }>(`SELECT value FROM ${stateTable(engine, 'meta')} WHERE key = 'publish_seq'`);
  return Number(rows[0]?.value ?? 0);
}
