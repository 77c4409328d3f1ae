/**
 * `consumers redeliver --dead | --run`: deliveries put back to pending, with the audit record of it in
 * the same transaction. A re-queue overwrites what a delivery was (a delivered one's delivered_at, a
 * dead one's attempts and last error) and makes consumers act again (a cache drops its entries, a
 * command consumer runs its export once more), so it is a mutation like any other: who, why, and each
 * delivery as it stood are on the trail (DESIGN.md failure mode 7: no audit, no write).
 */
import { appendAudit } from '../state/audit.js';
import { stateTable } from '../state/tables.js';
import type { Workspace } from '../workspace.js';
import { requeue, type DeliveryStatus } from './deliveries.js';

export interface RequeueRequest {
  consumer?: string;
  runId?: string;
  statuses: DeliveryStatus[];
  reason: string;
}

/** A delivery as it stood before the re-queue overwrote it: what the audit record keeps. */
export interface RequeuedDelivery {
  event_id: number;
  consumer: string;
  event_type: string;
  run_id: string;
  status: DeliveryStatus;
  attempts: number;
  delivered_at: string | null;
  last_error: string | null;
}

/** Re-queues the matching deliveries and records them; nothing matching writes nothing, not even a record. */
export async function requeueAudited(ws: Workspace, request: RequeueRequest, now: string): Promise<number> {
  const { engine } = ws;
  return engine.transaction(async (tx) => {
    const params: unknown[] = [];
    const where = [`d.status IN (${request.statuses.map((s) => (params.push(s), `$${params.length}`)).join(', ')})`];
    if (request.consumer) params.push(request.consumer), where.push(`d.consumer = $${params.length}`);
    if (request.runId) params.push(request.runId), where.push(`o.run_id = $${params.length}`);
    const rows = await tx.query<Record<string, unknown>>(
      `SELECT d.event_id, d.consumer, o.event_type, o.run_id, d.status, d.attempts, d.delivered_at, d.last_error
       FROM ${stateTable(engine, 'deliveries')} d JOIN ${stateTable(engine, 'outbox')} o ON o.event_id = d.event_id
       WHERE ${where.join(' AND ')} ORDER BY d.event_id, d.consumer`,
      params,
    );
    if (!rows.length) return 0;
    const before: RequeuedDelivery[] = rows.map((r) => ({
      event_id: Number(r.event_id),
      consumer: String(r.consumer),
      event_type: String(r.event_type),
      run_id: String(r.run_id),
      status: r.status as DeliveryStatus,
      attempts: Number(r.attempts),
      delivered_at: (r.delivered_at as string | null) ?? null,
      last_error: r.last_error === null || r.last_error === undefined ? null : ws.redact(String(r.last_error)),
    }));
    // Exactly the deliveries read (and recorded) above: the filter is written once, in that read.
    const requeued = await requeue(tx, engine, before, now);
    await appendAudit(tx, engine, {
      actor: ws.actor,
      action: 'consumers.redeliver',
      reason: request.reason,
      command: ws.command,
      run_id: request.runId ?? null,
      dataset: null,
      partitions: [],
      details: { consumer: request.consumer ?? null, run: request.runId ?? null, statuses: request.statuses, requeued: before },
      config_hash: ws.project.configHash,
    });
    return requeued;
  });
}
