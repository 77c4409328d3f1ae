/**
 * Migration 3: history rows are tagged with the publish that replaced them, not with their partition
 * and version. Moving a partition's rows to history is then a plain copy with one constant column:
 * before, every history row carried its partition key as text and its version, found by joining each
 * row to the partition state — the part of a publish that cost as much as the copy itself.
 *
 * - versions.replaced_seq: the publish sequence number of the publish that replaced the version
 *   (NULL while it is current). Filled for existing versions from the publish of the next version.
 *   (Since migration 6 it may also be the negative tag of rows copied just before that publish.)
 * - each `history.<dataset>` table is rewritten with `_tm_replaced_seq` instead of `_tm_partition`
 *   and `_tm_version`. A version's rows are then `partition column in the partition's window AND
 *   _tm_replaced_seq = versions.replaced_seq` (see api/version-content.ts).
 */
import type { Db, Engine } from '../../engines/engine.js';

export const name = 'history_by_publish';

export const tables = [
  `ALTER TABLE {s}.versions ADD COLUMN replaced_seq BIGINT`,
  `UPDATE {s}.versions SET replaced_seq = (
     SELECT min(n.publish_seq) FROM {s}.versions n
     WHERE n.dataset = {s}.versions.dataset AND n.partition = {s}.versions.partition AND n.version > {s}.versions.version)
   WHERE replaced_at IS NOT NULL`,
];

export const keyed: string[] = [];

/** Rewrites every existing history table in the new layout, in the migration's transaction. */
export async function run(tx: Db, engine: Engine): Promise<void> {
  const d = engine.dialect;
  const tables = await tx.query<{ table_name: string }>(
    `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY table_name`,
    [engine.historySchema],
  );
  for (const { table_name: dataset } of tables) {
    const columns = (await engine.columns(engine.historySchema, dataset, tx)) ?? [];
    if (!columns.some((c) => c.name === '_tm_version')) continue; // already in the new layout
    const kept = columns.filter((c) => c.name !== '_tm_partition' && c.name !== '_tm_version').map((c) => `h.${d.quote(c.name)}`);
    const table = d.table(engine.historySchema, dataset);
    const rewritten = d.table(engine.historySchema, '_tm_migrating');
    await tx.exec(
      `CREATE TABLE ${rewritten} AS SELECT ${kept.join(', ')}, CAST(v.replaced_seq AS BIGINT) AS "_tm_replaced_seq"
       FROM ${table} h JOIN ${d.table(engine.stateSchema, 'versions')} v
         ON v.dataset = ${d.stringLiteral(dataset)} AND v.partition = h."_tm_partition" AND v.version = h."_tm_version"`,
    );
    await tx.exec(`DROP TABLE ${table}`);
    await tx.exec(`ALTER TABLE ${rewritten} RENAME TO ${d.quote(dataset)}`);
  }
}
