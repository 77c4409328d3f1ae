// Unique schema names so PostgreSQL tests can share one database without colliding.
// No pg client here on purpose: the engine code creates and drops the schemas.
import { randomBytes } from 'node:crypto';

const MAX_IDENTIFIER_BYTES = 63; // PostgreSQL's NAMEDATALEN - 1

/**
 * A fresh, valid, lowercase, unquoted-safe identifier: `t_<prefix>_<random>`.
 * The prefix is lowercased and anything outside [a-z0-9_] becomes '_'; it is
 * shortened so the whole name fits PostgreSQL's 63-byte identifier limit.
 */
export function freshPgSchemaName(prefix: string): string {
  const random = randomBytes(6).toString('hex'); // 12 hex chars
  const cleaned = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .replace(/_+/g, '_')
    .replace(/^_|_$/g, '');
  const room = MAX_IDENTIFIER_BYTES - 't_'.length - '_'.length - random.length;
  const part = cleaned.slice(0, room).replace(/_$/, '');
  return part === '' ? `t_${random}` : `t_${part}_${random}`;
}
