/**
 * Identifiers that reach SQL text (dataset, column, schema, staging table names) are validated
 * here and quoted by the engine. Values never reach SQL text: they are bound as parameters.
 */
import { TidemarkError } from '../errors.js';

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

export function isIdentifier(name: string): boolean {
  return IDENTIFIER.test(name) && !name.toLowerCase().startsWith('_tm_');
}

export function assertIdentifier(name: string, what: string): string {
  if (!IDENTIFIER.test(name)) {
    throw new TidemarkError('USAGE', `invalid ${what} '${name}': use letters, digits and _ (max 63), starting with a letter or _`);
  }
  return name;
}

/** Names Tidemark adds to tables it manages; user columns may not use the prefix. */
export const RESERVED_PREFIX = '_tm_';
export const FILE_COLUMN = '_tm_file';
export const PARTITION_COLUMN = '_tm_partition';
/**
 * History rows carry one constant per copy: the sequence number of the publish that replaced them, or
 * the negative tag of their copy just before it (execute/history-copy.ts). So moving rows to history
 * is a plain copy (no per-row partition key or version lookup). With the partition (from the
 * partition column) it names the version: `versions.replaced_seq`.
 */
export const REPLACED_SEQ_COLUMN = '_tm_replaced_seq';
