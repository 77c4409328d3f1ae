/**
 * Whether the process that made a file table (file-tables.ts) is still running, as any session of
 * the database can tell, with no clock: every engine instance names its file tables
 * `_tm_file_<instance>_<n>` and, before it creates the first one, takes a session-level advisory lock
 * keyed by that instance, held on a connection of its own until it closes. PostgreSQL releases the
 * lock when the session ends, however the process ended. So another session that can take the lock
 * knows the owner is gone (`tidemark gc` then drops its tables); one that cannot leaves them be.
 *
 * The lock is the two-int form (classid, objid): classid is fixed for Tidemark's file tables, objid
 * is the instance's 4 random bytes. Tidemark's other advisory locks use the one-bigint form (a
 * separate key space in PostgreSQL) or a classid hashed from the state schema's name, which would
 * have to hash to exactly this constant to share keys with these. Instances are per database, not
 * per project: an instance id is unique among the live engines of the whole database.
 *
 * No pg import here: `tidemark gc` uses this through the Engine's Db interface.
 */
import type { Db } from '../engine.js';

/** classid of the file-table owner locks: 'TmFT' in ASCII. */
export const FILE_TABLE_LOCK_CLASS = 0x546d4654;

const FILE_TABLE = /^_tm_file_([0-9a-f]{8})_\d+$/;

/** The name of an instance's n-th file table. */
export function fileTableName(instance: string, n: number): string {
  return `_tm_file_${instance}_${n}`;
}

/** The instance that made a file table; null for any other name. */
export function fileTableInstance(table: string): string | null {
  return FILE_TABLE.exec(table)?.[1] ?? null;
}

/** The lock's (classid, objid): the instance's 4 bytes read as a signed 32-bit integer, as PostgreSQL's int4 takes it. */
export function ownerLockKey(instance: string): [number, number] {
  return [FILE_TABLE_LOCK_CLASS, Number.parseInt(instance, 16) | 0];
}

export const TRY_LOCK_SQL = 'SELECT pg_try_advisory_lock(CAST($1 AS INTEGER), CAST($2 AS INTEGER)) AS locked';
export const UNLOCK_SQL = 'SELECT pg_advisory_unlock(CAST($1 AS INTEGER), CAST($2 AS INTEGER)) AS unlocked';

/**
 * Of `instances`, those whose owner is gone: their locks, which `db` (one session: a Connection) now
 * holds until `releaseOwners`, so no new engine can take one of their ids while their tables are dropped.
 */
export async function claimDeadOwners(db: Db, instances: Iterable<string>): Promise<Set<string>> {
  const dead = new Set<string>();
  try {
    for (const instance of instances) {
      const [row] = await db.query<{ locked: boolean }>(TRY_LOCK_SQL, ownerLockKey(instance));
      if (row?.locked === true) dead.add(instance);
    }
  } catch (error) {
    await releaseOwners(db, dead).catch(() => undefined);
    throw error;
  }
  return dead;
}

export async function releaseOwners(db: Db, instances: Iterable<string>): Promise<void> {
  for (const instance of instances) await db.query(UNLOCK_SQL, ownerLockKey(instance));
}
