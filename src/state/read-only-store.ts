/**
 * A state store opened read-only is read as it is: it cannot be created, nor upgraded to this
 * version's schema. Reading an older store unmigrated is not sound (migrations change what the reads
 * rely on: history tables laid out by publish, delivery keys, new columns), so it is refused, with the
 * way to upgrade it once where it can be written. A current store needs nothing: `migrate` would only
 * have ensured the data schema, which DuckDB always has (`main`).
 */
import type { Engine } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';
import { appliedVersion, newerStoreError, SCHEMA_VERSION } from './migrate.js';

export type StoreCondition = 'current' | 'missing' | 'older';

/** Whether the store can be read as it is; a store newer than this Tidemark is refused as `migrate` refuses it. */
export async function storeCondition(engine: Engine): Promise<StoreCondition> {
  const applied = await appliedVersion(engine);
  if (applied === null) return 'missing';
  if (applied > SCHEMA_VERSION) throw newerStoreError(applied);
  return applied === SCHEMA_VERSION ? 'current' : 'older';
}

/** Refuses a store that `condition` says cannot be read without writing it. `file` is the database. */
export function readOnlyStoreError(condition: Exclude<StoreCondition, 'current'>, file: string, why: string): TidemarkError {
  if (condition === 'missing') {
    return new TidemarkError('UNAVAILABLE', `${file} holds no Tidemark state store, and it is ${why}, so none can be created`, {
      hint: 'check engine.path in tidemark.yaml; a project gets its state store from its first command run without --read-only, where the DuckDB file can be written',
      file,
    });
  }
  return new TidemarkError('UNAVAILABLE', `the state store in ${file} was written by an older Tidemark and must be upgraded to be read, but the file is ${why}`, {
    hint: 'upgrade it once where it can be written: copy the project (cp -a), run any command there (e.g. tidemark status), and read the copy; or read it with the Tidemark version that wrote it',
    file,
  });
}
