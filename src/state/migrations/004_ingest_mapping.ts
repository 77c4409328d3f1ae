/**
 * Migration 4: the ingest manifest remembers how each file was read, not only which schema version.
 *
 * - ingested_files.mapping_hash: a hash of everything that decides the rows a file gives — the
 *   version's declared columns, its adapters and the current columns (execute/ingest-mapping.ts).
 *   A file whose bytes are unchanged but whose mapping changed (its version moved to schema.history
 *   with an adapter, an adapter was edited) is loaded again; NULL for files loaded before this
 *   migration, which are then compared by schema version number only.
 *
 * `IF NOT EXISTS`: the statement is safe to apply again on a store a test downgraded by hand.
 */
export const name = 'ingest_mapping';

export const tables = [`ALTER TABLE {s}.ingested_files ADD COLUMN IF NOT EXISTS mapping_hash VARCHAR`];

export const keyed: string[] = [];
