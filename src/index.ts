/**
 * Tidemark's public library API: the same functions the CLI calls.
 *
 * @example
 * import { openWorkspace, ingest, run, planBackfill, backfill } from 'tidemark';
 * const ws = await openWorkspace('./shop', { actor: 'alice' });
 * try {
 *   await ingest(ws, 'orders', ['data/orders/orders-2026-04-30.csv']);
 *   await run(ws);
 *   const request = { dataset: 'daily_revenue', from: '2026-04-24', to: '2026-04-30', downstream: true };
 *   console.log((await planBackfill(ws, request)).datasets);
 *   await backfill(ws, request, { reason: 'upstream fix for EUR amounts' });
 * } finally {
 *   await ws.close();
 * }
 */
export { openWorkspace, type OpenOptions, type Workspace } from './workspace.js';
export { loadProject } from './config/load.js';
export type { Project, DatasetSpec, ModelSpec, SourceSpec } from './config/project.js';
export { TidemarkError, type ErrorCode } from './errors.js';
export type { TidemarkEvent } from './events.js';
export {
  backfill,
  listPartitions,
  planBackfill,
  planRun,
  preflight,
  query,
  run,
  status,
  type DatasetStatus,
  type PartitionRow,
  type PartitionState,
  type ProjectStatus,
} from './api/operations.js';
export { ingest, planIngest, type IngestResult } from './execute/ingest.js';
export type { RunResult } from './execute/executor.js';
export type { RunOptions } from './execute/run-context.js';
export type { Plan, PlannedTask } from './plan/types.js';
export type { Guard, GuardCode } from './core/guards.js';
export { diffRun, gc, history, lock, planRestore, restore, unlock } from './api/versions.js';
export { auditLog, exportAudit, lineage, verifyAudit } from './api/audit.js';
export { listChanges } from './api/changes.js';
export { verifyAuditChain } from './audit/chain.js';
export { consumersStatus, listConsumers, redeliver } from './api/consumers.js';
/** Delivers pending outbox events to consumers; the CLI calls it after every publishing command. */
export { dispatch } from './consumers/dispatcher.js';
