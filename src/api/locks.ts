/**
 * User locks: `tidemark lock DATASET --from --to --reason` protects a range from every write
 * (backfill, restore, ingest refuse it at plan time; `run` leaves it alone). Locking and unlocking
 * are mutations: each is written with its audit record in one transaction.
 */
import { randomBytes } from 'node:crypto';
import type { UserLock } from '../core/guards.js';
import { TidemarkError } from '../errors.js';
import { resolveRange } from '../plan/build.js';
import { appendAudit } from '../state/audit.js';
import { nowIso } from '../state/json.js';
import { listLocks } from '../state/locks.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { requireReason } from './operations.js';

export interface LockRequest {
  dataset: string;
  from: string;
  to: string;
  reason: string;
}

export interface LockResult {
  lock: UserLock & { created_at: string };
  /** False when exactly this range was already locked (nothing was written). */
  created: boolean;
}

export interface UnlockResult {
  removed: (UserLock & { created_at: string })[];
  /**
   * Locks that overlap the range without lying within it: they stay, and still refuse writes to the
   * partitions of the range they cover (an unlock of 03-02..03-05 inside a lock of 03-01..03-10).
   */
  still_locked: (UserLock & { created_at: string })[];
}

/** The dataset and the inclusive partition range a lock or unlock names. */
function lockScope(ws: Workspace, request: LockRequest): { dataset: string; keys: string[]; from: string; to: string } {
  const keys = resolveRange(ws.project, request.dataset, request.from, request.to);
  return { dataset: ws.project.datasets.get(request.dataset)!.name, keys, from: keys[0], to: keys[keys.length - 1] };
}

export async function lock(ws: Workspace, request: LockRequest): Promise<LockResult> {
  requireReason(request.reason, 'lock');
  const { engine, project } = ws;
  const { dataset, keys, from, to } = lockScope(ws, request);
  return engine.transaction(async (tx) => {
    const existing = (await listLocks(tx, engine, dataset)).find((l) => l.from_key === from && l.to_key === to);
    if (existing) return { lock: existing, created: false };
    const record = { lock_id: `l${randomBytes(6).toString('hex')}`, dataset, from_key: from, to_key: to, reason: request.reason, actor: ws.actor, created_at: nowIso() };
    await tx.exec(`INSERT INTO ${stateTable(engine, 'locks')} (lock_id, dataset, from_key, to_key, reason, actor, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`, [
      record.lock_id,
      record.dataset,
      record.from_key,
      record.to_key,
      record.reason,
      record.actor,
      record.created_at,
    ]);
    await appendAudit(tx, engine, {
      actor: ws.actor,
      action: 'lock',
      reason: request.reason,
      command: ws.command,
      run_id: null,
      dataset,
      partitions: keys,
      details: { lock_id: record.lock_id, from, to },
      config_hash: project.configHash,
    });
    return { lock: record, created: true };
  });
}

/** Removes the locks of a dataset that lie within from..to; a range no lock lies within is an error. */
export async function unlock(ws: Workspace, request: LockRequest): Promise<UnlockResult> {
  requireReason(request.reason, 'unlock');
  const { engine, project } = ws;
  const { dataset, keys, from, to } = lockScope(ws, request);
  return engine.transaction(async (tx) => {
    const locks = await listLocks(tx, engine, dataset);
    const within = locks.filter((l) => l.from_key >= from && l.to_key <= to);
    if (!within.length) {
      const overlapping = locks.filter((l) => l.from_key <= to && l.to_key >= from);
      const held = (ls: typeof locks) => ls.map((l) => `${l.from_key}..${l.to_key} (${l.reason}, by ${l.actor})`).join('; ');
      throw new TidemarkError('NOT_FOUND', `no lock of ${dataset} lies within ${from}..${to}${overlapping.length ? `; it overlaps ${held(overlapping)}` : ''}`, {
        dataset,
        hint: overlapping.length
          ? `unlock a whole lock: tidemark unlock ${dataset} --from ${overlapping[0].from_key} --to ${overlapping[0].to_key} --reason "…"`
          : locks.length
            ? `locks of ${dataset}: ${held(locks)}`
            : `${dataset} has no locks`,
      });
    }
    const stillLocked = locks.filter((l) => !within.includes(l) && l.from_key <= to && l.to_key >= from);
    for (const l of within) await tx.exec(`DELETE FROM ${stateTable(engine, 'locks')} WHERE lock_id = $1`, [l.lock_id]);
    await appendAudit(tx, engine, {
      actor: ws.actor,
      action: 'unlock',
      reason: request.reason,
      command: ws.command,
      run_id: null,
      dataset,
      partitions: keys,
      details: { from, to, removed: within.map(({ lock_id, from_key, to_key, reason, actor }) => ({ lock_id, from: from_key, to: to_key, reason, actor })) },
      config_hash: project.configHash,
    });
    return { removed: within, still_locked: stillLocked };
  });
}
