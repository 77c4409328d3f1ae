/**
 * How a file was read, as the manifest remembers it. The rows a file gives depend on its bytes and on
 * its mapping: the schema version's declared columns, the adapters from them to the current columns,
 * and the current columns. The version number alone does not say: the shape that was current when a
 * file was loaded keeps its number when it moves to schema.history with an adapter (the new column's
 * default), yet the same bytes then give other rows. So the manifest stores a hash of the mapping,
 * and a file whose bytes are unchanged but whose mapping hash changed is loaded again.
 */
import { createHash } from 'node:crypto';
import type { SourceSpec } from '../config/project.js';
import { typeName } from '../config/types.js';
import type { SchemaVersion } from './schema-match.js';


/** The adapter of current column `name` in `version`, or null when the same-named old column is read. */
function adapterText(version: SchemaVersion, name: string): string | null {
  if (version.current) return null;
  const key = Object.keys(version.adapt).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : version.adapt[key].trim();
}

/** A hash of everything that decides the rows of a file read as `version` (not the version number). */
export function mappingHash(ds: SourceSpec, version: SchemaVersion): string {
  const mapping = {
    read: version.columns.map((c) => [c.name, typeName(c.type)]),
    current: ds.columns.map((c) => [c.name, typeName(c.type), adapterText(version, c.name)]),
  };
  return createHash('sha256').update(JSON.stringify(mapping)).digest('hex').slice(0, 32);
}
