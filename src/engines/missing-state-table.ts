/**
 * A Tidemark statement failed because one of its own state tables (schema `tidemark`: runs, audit,
 * outbox…) does not exist. Migrations create every state table and nothing in Tidemark drops one, so
 * the state store was damaged outside Tidemark (a table renamed or dropped, a partial restore): not
 * bad input (exit 2), a failure (exit 1) that names the table and the way back. The statement failed,
 * so its transaction rolled back: nothing was published.
 *
 * Recognised only when the failing SQL names the table the way Tidemark writes state tables, quoted
 * and qualified by the state schema (`"tidemark"."audit"`); a user's own query of a missing table
 * stays a SQL error.
 */
import { TidemarkError } from '../errors.js';

export function missingStateTableError(engine: 'duckdb' | 'postgres', sql: string, schema: string, table: string, engineMessage: string): TidemarkError | null {
  const quoted = `"${schema.replace(/"/g, '""')}"."${table.replace(/"/g, '""')}"`;
  if (!sql.includes(quoted)) return null;
  const name = `${schema}.${table}`;
  const backup = engine === 'duckdb' ? 'restore the .tidemark folder from a backup' : `restore the schema ${schema} from a backup`;
  return new TidemarkError('INTERNAL', `the state store is damaged: the state table ${name} is missing (renamed or dropped outside Tidemark)`, {
    hint: `rename the table back to ${name} if it was renamed, or ${backup}; then \`tidemark audit verify\` checks the audit trail`,
    state_table: name,
    engineMessage,
  });
}
