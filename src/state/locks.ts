/** User locks (`tidemark lock`) stored in state. */
import type { Db, Engine } from '../engines/engine.js';
import type { UserLock } from '../core/guards.js';
import { stateTable } from './tables.js';

export async function listLocks(db: Db, engine: Engine, dataset?: string): Promise<(UserLock & { created_at: string })[]> {
  return db.query<UserLock & { created_at: string }>(`SELECT * FROM ${stateTable(engine, 'locks')}${dataset ? ' WHERE dataset = $1' : ''} ORDER BY dataset, from_key`, dataset ? [dataset] : []);
}
