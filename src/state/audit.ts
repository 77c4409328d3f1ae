/**
 * The audit log table. Records are appended only inside the transaction of the mutation they
 * describe (publish, lock, unlock, …): no audit record, no write.
 */
import type { Db, Engine } from '../engines/engine.js';
import { sealAuditRecord, type AuditRecord, type AuditRecordBody } from '../audit/chain.js';
import { TIDEMARK_VERSION } from '../version.js';
import { nowIso, parseJson } from './json.js';
import { stateTable } from './tables.js';

/** What a mutation supplies; sequence, time, version and the chain links are added when it is sealed. */
export type AuditFields = Omit<AuditRecordBody, 'seq' | 'at' | 'tidemark_version' | 'prev_hash'>;

/** Test hook: lets a test prove that a failed audit write rolls the mutation back. */
export const auditFaults = { failNextAppend: false };

export async function appendAudit(tx: Db, engine: Engine, fields: AuditFields): Promise<AuditRecord> {
  if (auditFaults.failNextAppend || process.env.TIDEMARK_FAULT_AUDIT === '1') {
    auditFaults.failNextAppend = false;
    throw new Error('injected failure while writing the audit record');
  }
  const table = stateTable(engine, 'audit');
  const last = await tx.query<{ seq: number; hash: string }>(`SELECT seq, hash FROM ${table} ORDER BY seq DESC LIMIT 1`);
  const record = sealAuditRecord(last[0] ? { seq: Number(last[0].seq), hash: last[0].hash } : null, {
    at: nowIso(),
    tidemark_version: TIDEMARK_VERSION,
    ...fields,
  });
  await tx.exec(
    `INSERT INTO ${table} (seq, "at", actor, action, reason, command, run_id, dataset, partitions, details, tidemark_version, config_hash, prev_hash, hash)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
    [record.seq, record.at, record.actor, record.action, record.reason, record.command, record.run_id, record.dataset, JSON.stringify(record.partitions), JSON.stringify(record.details), record.tidemark_version, record.config_hash, record.prev_hash, record.hash],
  );
  return record;
}

export interface AuditQuery {
  dataset?: string;
  since?: string;
  runId?: string;
}

export async function readAudit(db: Db, engine: Engine, q: AuditQuery = {}): Promise<AuditRecord[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.dataset) params.push(q.dataset), where.push(`dataset = $${params.length}`);
  if (q.since) params.push(q.since), where.push(`"at" >= $${params.length}`);
  if (q.runId) params.push(q.runId), where.push(`run_id = $${params.length}`);
  const rows = await db.query<Record<string, unknown>>(
    `SELECT * FROM ${stateTable(engine, 'audit')}${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY seq`,
    params,
  );
  return rows.map(
    (r) =>
      ({
        ...(r as unknown as AuditRecordBody),
        seq: Number(r.seq),
        partitions: parseJson<string[]>(r.partitions, []),
        details: parseJson<unknown>(r.details, null),
        hash: String(r.hash),
      }) as AuditRecord,
  );
}
