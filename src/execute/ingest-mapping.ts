/**
 * How a file was read, as the manifest remembers it. The rows a file gives depend on its bytes and on
 * its mapping: the schema version's declared columns, the adapters from them to the current columns,
 * and the current columns. The version number alone does not say: the shape that was current when a
 * file was loaded keeps its number when it moves to schema.history with an adapter (the new column's
 * default), yet the same bytes then give other rows. So the manifest stores a hash of the mapping,
 * and a file whose bytes are unchanged but whose mapping hash changed is loaded again.
 *
 * How the bytes are parsed belongs to it too: a CSV's field delimiter, when the source declares one
 * (`csv: { delimiter: ";" }`), splits the same bytes into other fields. It is hashed only when it is
 * not what the file's name alone says (a comma; a tab for a .tsv), so a file read as its name says
 * keeps the hash it had before delimiters were hashed. Nothing else about parsing is configurable:
 * the header is always the first line, quoting the double quote, the encoding UTF-8; gzip is undone
 * byte for byte (the manifest hashes the compressed bytes); and a change of `format:` gives no reading
 * of the same bytes that loads (CSV, NDJSON and Parquet files do not parse as one another).
 */
import { createHash } from 'node:crypto';
import type { SourceSpec } from '../config/project.js';
import { typeName } from '../config/types.js';
import type { DataFileLayout } from '../io/data-file-layout.js';
import type { SchemaVersion } from './schema-match.js';


/** The adapter of current column `name` in `version`, or null when the same-named old column is read. */
function adapterText(version: SchemaVersion, name: string): string | null {
  if (version.current) return null;
  const key = Object.keys(version.adapt).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : version.adapt[key].trim();
}

/** A hash of everything that decides the rows of a file read as `version` (not the version number), laid out as `layout`. */
export function mappingHash(ds: SourceSpec, version: SchemaVersion, layout: Pick<DataFileLayout, 'format' | 'delimiter' | 'declaredDelimiter'>): string {
  const parsing = parsingOf(layout);
  const mapping = {
    read: version.columns.map((c) => [c.name, typeName(c.type)]),
    current: ds.columns.map((c) => [c.name, typeName(c.type), adapterText(version, c.name)]),
    // Absent, not empty, when the file is parsed as its name says: the hash is then the one it always was.
    ...(parsing ? { parsing } : {}),
  };
  return createHash('sha256').update(JSON.stringify(mapping)).digest('hex').slice(0, 32);
}

/** How the file's bytes are parsed, where that is not what its name alone says; null when it is. */
function parsingOf(layout: Pick<DataFileLayout, 'format' | 'delimiter' | 'declaredDelimiter'>): { delimiter: string } | null {
  // A declared comma parses as the default does; a .tsv is never read with a declared delimiter (declaredDelimiter is false).
  if (layout.format === 'csv' && layout.declaredDelimiter && layout.delimiter !== ',') return { delimiter: layout.delimiter };
  return null;
}
