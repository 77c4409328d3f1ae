/**
 * The audit log table. Records are appended only inside the transaction of the mutation they
 * describe (publish, lock, unlock, …): no audit record, no write.
 */
import type { Db, Engine } from '../engines/engine.js';
import { sealAuditRecord, type AuditRecord, type AuditRecordBody, type StoredAuditRecord } from '../audit/chain.js';
import { TIDEMARK_VERSION } from '../version.js';
import { nowIso, parseJson } from './json.js';
import { stateTable } from './tables.js';
import { TidemarkError } from '../errors.js';

/** What a mutation supplies; sequence, time, version and the chain links are added when it is sealed. */
export type AuditFields = Omit<AuditRecordBody, 'seq' | 'at' | 'tidemark_version' | 'prev_hash'>;

/** Test hook: lets a test prove that a failed audit write rolls the mutation back. */
export const auditFaults = { failNextAppend: false };

export async function appendAudit(tx: Db, engine: Engine, fields: AuditFields): Promise<AuditRecord> {
  return (await appendAudits(tx, engine, [fields]))[0];
}

/** Several records of one mutation (a publish writes one per dataset), chained in order: one read of the head, one insert. */
export async function appendAudits(tx: Db, engine: Engine, all: AuditFields[]): Promise<AuditRecord[]> {
  if (auditFaults.failNextAppend || process.env.TIDEMARK_FAULT_AUDIT === '1') {
    auditFaults.failNextAppend = false;
    throw new Error('injected failure while writing the audit record');
  }
  if (!all.length) return [];
  try {
    return await appendSealed(tx, engine, all);
  } catch (error) {
    throw auditWriteError(engine, error);
  }
}

async function appendSealed(tx: Db, engine: Engine, all: AuditFields[]): Promise<AuditRecord[]> {
  const table = stateTable(engine, 'audit');
  const last = await tx.query<{ seq: number; hash: string }>(`SELECT seq, hash FROM ${table} ORDER BY seq DESC LIMIT 1`);
  let head = last[0] ? { seq: Number(last[0].seq), hash: last[0].hash } : null;
  const at = nowIso();
  const records = all.map((fields) => {
    const record = sealAuditRecord(head, { at, tidemark_version: TIDEMARK_VERSION, ...fields });
    head = { seq: record.seq, hash: record.hash };
    return record;
  });
  const params: unknown[] = [];
  const rows = records.map((r) => {
    params.push(r.seq, r.at, r.actor, r.action, r.reason, r.command, r.run_id, r.dataset, JSON.stringify(r.partitions), JSON.stringify(r.details), r.tidemark_version, r.config_hash, r.prev_hash, r.hash);
    return `(${Array.from({ length: 14 }, (_, i) => `$${params.length - 13 + i}`).join(', ')})`;
  });
  await tx.exec(
    `INSERT INTO ${table} (seq, "at", actor, action, reason, command, run_id, dataset, partitions, details, tidemark_version, config_hash, prev_hash, hash) VALUES ${rows.join(', ')}`,
    params,
  );
  return records;
}

/**
 * The engine refused the audit record (a trigger, a revoked grant, a constraint added outside
 * Tidemark): the mutation's transaction rolls back with it, and the user is told that is why, not
 * shown a bare SQL error as if their input were wrong. A damaged store (the table gone), a full disk
 * or a lost server already say what they are, and are left as they are.
 */
function auditWriteError(engine: Engine, error: unknown): unknown {
  if (error instanceof TidemarkError && error.code !== 'SQL') return error;
  const cause = error instanceof Error ? error.message : String(error);
  return new TidemarkError('INTERNAL', `the audit record could not be written, so nothing was changed (no audit, no write): ${cause}`, {
    hint: `the state table ${engine.stateSchema}.audit refuses Tidemark's insert (a trigger, a revoked grant or a constraint added outside Tidemark?): let Tidemark append to it again, then re-issue the command (a run resumes what it computed); \`tidemark audit verify\` checks the trail`,
  }, { cause: error });
}

export interface AuditQuery {
  dataset?: string;
  since?: string;
  runId?: string;
  /** Only records of these runs (chunked by the caller when long). */
  runIds?: string[];
}

function auditFilter(q: AuditQuery): { where: string; params: unknown[] } {
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.dataset) params.push(q.dataset), where.push(`dataset = $${params.length}`);
  if (q.since) params.push(q.since), where.push(`"at" >= $${params.length}`);
  if (q.runId) params.push(q.runId), where.push(`run_id = $${params.length}`);
  if (q.runIds) where.push(`run_id IN (${q.runIds.map((id) => (params.push(id), `$${params.length}`)).join(', ') || 'NULL'})`);
  return { where: where.length ? ` WHERE ${where.join(' AND ')}` : '', params };
}

/** How many records match, without reading them. */
export async function countAudit(db: Db, engine: Engine, q: AuditQuery = {}): Promise<number> {
  const { where, params } = auditFilter(q);
  return Number((await db.query<{ n: number }>(`SELECT count(*) AS n FROM ${stateTable(engine, 'audit')}${where}`, params))[0].n);
}

/** Matching records in sequence order; with `newest`, only the last N of them. */
export async function readAudit(db: Db, engine: Engine, q: AuditQuery = {}, newest?: number): Promise<AuditRecord[]> {
  const { where, params } = auditFilter(q);
  const table = stateTable(engine, 'audit');
  const rows = await db.query<Record<string, unknown>>(
    newest === undefined
      ? `SELECT * FROM ${table}${where} ORDER BY seq`
      : `SELECT * FROM (SELECT * FROM ${table}${where} ORDER BY seq DESC LIMIT ${Math.max(1, Math.floor(newest))}) t ORDER BY seq`,
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

/** The whole chain as stored, JSON columns as text: what `audit verify` hashes (chain.ts StoredAuditRecord). */
export async function readStoredAudit(db: Db, engine: Engine): Promise<StoredAuditRecord[]> {
  // One JSON array per row: the driver decodes one string per record instead of one per column
  // (~20% of reading 100k records); JSON.parse gives back each text exactly, NULLs as null.
  const columns = ['CAST(seq AS VARCHAR)', '"at"', 'actor', 'action', 'reason', 'command', 'run_id', 'dataset', 'partitions', 'details', 'tidemark_version', 'config_hash', 'prev_hash', 'hash'];
  const rows = await db.query<{ r: string }>(`SELECT ${engine.dialect.jsonArrayText(columns)} AS r FROM ${stateTable(engine, 'audit')} ORDER BY seq`);
  return rows.map(({ r }) => {
    const [seq, at, actor, action, reason, command, run_id, dataset, partitions_json, details_json, tidemark_version, config_hash, prev_hash, hash] = JSON.parse(r) as (string | null)[];
    return { seq: Number(seq), at, actor, action, reason, command, run_id, dataset, partitions_json, details_json, tidemark_version, config_hash, prev_hash, hash } as StoredAuditRecord;
  });
}
