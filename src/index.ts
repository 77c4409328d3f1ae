/**
 * Tidemark's public library API: the same functions the CLI calls, grouped by the commands that call
 * them. Every function takes an open workspace (`openWorkspace`), and every mutation goes through the
 * same write path as the CLI: guards, staging, one publish transaction with its audit record and
 * outbox event. What the CLI adds on top: parsing, printing, confirmation, exit codes, delivering to
 * consumers after a publish (`dispatch` here), and the waiting loops of `--wait` and `--window`.
 *
 * @example
 * // From the folder that holds shop/ (after `tidemark init shop`); file paths resolve against the
 * // working directory, as on the command line. The same example is in README.md ("Using Tidemark as
 * // a library"), whose copy the test suite compiles against the packed package and runs.
 * import { cpSync, readdirSync } from 'node:fs';
 * import { backfill, ingest, openWorkspace, planBackfill, run } from 'tidemark';
 *
 * const files = (dir: string) => readdirSync(dir).map((f) => `${dir}/${f}`);
 * const ws = await openWorkspace('shop', { actor: 'alice' });
 * try {
 *   await ingest(ws, 'orders', files('shop/data/orders'));
 *   await ingest(ws, 'fx_rates', files('shop/data/fx_rates'));
 *   await run(ws);
 *   cpSync('shop/data/fixes', 'shop/data/orders', { recursive: true }); // the upstream fix arrives
 *   await ingest(ws, 'orders', files('shop/data/orders')); // reloads the 7 changed files
 *   const request = { dataset: 'daily_revenue', from: '2026-04-24', to: '2026-04-30', downstream: true };
 *   console.log((await planBackfill(ws, request)).datasets); // the blast radius, per dataset
 *   const result = await backfill(ws, request, { reason: 'EUR amounts were 10% high' });
 *   console.log(result.status, result.published.length); // published 15
 * } finally {
 *   await ws.close();
 * }
 */

// --- Opening a project, errors, progress events ---------------------------------------------
export { openWorkspace, type OpenOptions, type Workspace } from './workspace.js';
export { loadProject } from './config/load.js';
export type { LoadOptions } from './config/load.js';
export type { ColumnSpec, DatasetCommon, DatasetSpec, EngineConfig, ModelSpec, Project, SchemaVersionSpec, SourceSpec, UpstreamSpec } from './config/project.js';
export type { Grain } from './core/grain.js';
export { TidemarkError, type ErrorCode, type ErrorDetails } from './errors.js';
/** `ws.events.on(listener)` receives these while runs compute and publish; it returns the unsubscribe function. */
export type { EventBus, TidemarkEvent } from './events.js';

// --- init: the shop example ------------------------------------------------------------------
export { scaffoldShopExample, SHOP_DAYS, SHOP_FIRST_DAY } from './example/shop.js';

// --- ingest, run, plan, backfill -------------------------------------------------------------
export { ingest, planIngest, type IngestFile, type IngestOptions, type IngestResult } from './execute/ingest.js';
export type { DataFileLayout } from './io/data-file-layout.js';
export type { ColumnInfo, FileFormat } from './engines/engine.js';
export { backfill, planBackfill, planRun, preflight, run } from './api/operations.js';
export type { BackfillRequest, RunRequest } from './plan/build.js';
export type { RunOptions, PublishMode } from './execute/run-context.js';
export type { NoRunResult, PublishedRunResult, RunResult } from './execute/executor.js';
export type { DatasetSchemaChange, PublishedPartition } from './execute/publish.js';
export type { AppliedSchemaChange, ChecksumsRecomputed } from './execute/add-columns.js';
export type { InterruptedPublish } from './execute/interrupted-publishes.js';
export type { Plan, PlanDataset, PlannedTask, RunKind, TaskReason } from './plan/types.js';
export type { Guard, GuardCode, UserLock } from './core/guards.js';
export type { PartitionKey } from './core/grain.js';
export type { StaleReason } from './core/staleness.js';
/** Throws the GUARD error a run would refuse this plan with (the CLI's check before it asks to confirm). */
export { assertNoBlockingGuards } from './execute/executor.js';
/** `--wait`: plans again until no run in flight holds the planned partitions, then returns the fresh plan. */
export { waitForConflictingRuns } from './scheduler/claims.js';

// --- status, partitions, query ---------------------------------------------------------------
export { listPartitions, query, status } from './api/operations.js';
export type { DatasetStatus, PartitionRow, PartitionState, ProjectStatus } from './api/operations.js';
export type { Completeness, IncompleteAt } from './api/completeness.js';

// --- check, dedupe ---------------------------------------------------------------------------
export { checkDuplicates, dedupe, planDedupe, type DedupeRequest, type DuplicateReport } from './api/dedupe.js';

// --- history, diff, restore, lock, unlock, gc ------------------------------------------------
export { diffRun, gc, history, lock, planRestore, restore, unlock } from './api/versions.js';
export type { GcOptions, GcReport, HistoryEntry, LockRequest, LockResult, MetricSum, PartitionDiff, RestorePlan, RestoreRequest, RestoreResult, RunDiff, UnlockResult } from './api/versions.js';
export type { RestoreSource } from './api/restore.js';
export type { DroppedHistoryCopies, DroppedStaging, RemovedVersion } from './api/gc.js';

// --- audit log, verify (--data), export, lineage ---------------------------------------------
export { auditLog, exportAudit, lineage, verifyAudit, type AuditExport, type AuditLogQuery, type LineageEntry, type UpstreamVersion } from './api/audit.js';
export { verifyData, type DataVerdict, type DataVerifyRequest, type DatasetDataSummary, type PartitionDrift, type UnauditedState, type UnpublishedRows } from './api/audit-data.js';
export type { SealedState } from './api/audit-sealed.js';
/**
 * Verifies an exported chain without a workspace: the records of `exportAudit` (its `lines` but the
 * last, parsed), with the last line's `head` as `{ head }`.
 */
export { verifyAuditChain, type AuditRecord, type AuditRecordBody, type ChainProblem, type ChainVerdict, type StoredAuditRecord } from './audit/chain.js';

// --- changes ---------------------------------------------------------------------------------
export { listChanges, type Change, type ChangeFeed, type ChangesRequest } from './api/changes.js';

// --- checkpoint show, validate, reset --------------------------------------------------------
export { planCheckpointReset, resetCheckpoint, showCheckpoint, validateCheckpoint } from './api/checkpoints.js';
export type { CheckpointFinding, CheckpointValidation, CheckpointView, FindingCode, PartitionRows, ResetEffect, ResetRequest } from './api/checkpoints.js';
export type { CheckpointRecord } from './state/checkpoints.js';

// --- schema check ----------------------------------------------------------------------------
export { schemaCheck, type LiveTableCheck, type SchemaCheckFile, type SchemaCheckReport } from './api/schema.js';
export type { LiveSchemaDiff } from './execute/ingest-evolution.js';
export type { CastFailure } from './execute/schema-adapt.js';
export type { ShapeDiff } from './execute/schema-match.js';

// --- consumers list, status, redeliver, verify; ready ----------------------------------------
export { consumersStatus, listConsumers, readiness, redeliver, verifyRun } from './api/consumers.js';
export type { AwaitingRun, ConsumerInfo, ConsumersStatus, ConsumerStatus, FailedDelivery, LastDelivery, Readiness, RedeliverReport, RedeliverRequest, VerifyReport } from './api/consumers.js';
/** `ready --from --to`: every partition of a range ready, from one look (a scheduler's gate after a backfill). */
export { rangeReadiness, type RangeReadiness } from './api/consumers.js';
export type { StaleCause } from './consumers/ready.js';
export type { DeliveryStatus } from './consumers/deliveries.js';
export type { VerifyCheck } from './consumers/verify.js';
/**
 * Delivers pending outbox events to consumers. The CLI calls it after every command that published;
 * a library caller that publishes calls it when it wants consumers notified (else the next dispatch,
 * `tidemark serve` or `consumers redeliver` does).
 */
export { dispatch, type AttemptRecord, type DispatchOptions, type DispatchReport } from './consumers/dispatcher.js';

// --- runs, cancel, wait ----------------------------------------------------------------------
export { cancelRun, listRuns, waitForRun } from './api/runs.js';
export type { RunSummary } from './scheduler/run-list.js';
export type { WaitOptions } from './workers/wait.js';
export type { RunRecord, RunStatus } from './state/runs.js';
/**
 * `tidemark cancel RUN` when the project's DuckDB file is held by another process (openWorkspace
 * throws LOCKED, its `details.holder_run_id` the run): `requestCancelByMarker(loadProject(dir), runId)` asks
 * the holder to stop between tasks.
 */
export { requestCancelByMarker } from './scheduler/cancel.js';

// --- backfill --detach, worker (PostgreSQL) --------------------------------------------------
export { enqueuePlan, type QueuedRun } from './workers/enqueue.js';
export { runWorker, type WorkerOptions, type WorkerReport } from './workers/worker.js';

// --- serve -----------------------------------------------------------------------------------
export { startServer, type RunningServer } from './server/server.js';
export type { ServeInfo } from './server/serve-file.js';
