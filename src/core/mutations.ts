/**
 * The single registry of CLI commands that change the warehouse or its state (DESIGN.md failure
 * mode 7: no audit, no write). Every command the CLI registers must appear either here or in
 * NOT_AUDITED_COMMANDS with the reason it writes no audit record; a test walks the CLI and the
 * registry together, so a new mutating command cannot be added without deciding how it is audited.
 *
 * Pure data: no I/O. `cli` is the command path as typed (`checkpoint reset`).
 */

export interface MutatingCommand {
  /** Command path as typed after `tidemark`. */
  cli: string;
  /** `--reason` is mandatory (exit 2 without it): the why of a deliberate repair must be on record. */
  reasonRequired: boolean;
  /** What is recorded when no --reason is given (commands whose reason is optional). */
  defaultReason?: string;
  /** The `action` of the audit record(s) the command writes. */
  auditActions: readonly string[];
}

export const MUTATING_COMMANDS: readonly MutatingCommand[] = [
  // Defaults as set in execute/ingest.ts (`ingest N file(s)`) and cli/commands/core.ts (run).
  { cli: 'ingest', reasonRequired: false, defaultReason: 'ingest N file(s)', auditActions: ['ingest'] },
  { cli: 'run', reasonRequired: false, defaultReason: 'scheduled run: build missing and stale partitions', auditActions: ['run'] },
  { cli: 'backfill', reasonRequired: true, auditActions: ['backfill'] },
  { cli: 'restore', reasonRequired: true, auditActions: ['restore'] },
  // DESIGN.md's CLI table gives lock and unlock the same `--reason TEXT` signature.
  { cli: 'lock', reasonRequired: true, auditActions: ['lock'] },
  { cli: 'unlock', reasonRequired: true, auditActions: ['unlock'] },
  { cli: 'dedupe', reasonRequired: true, auditActions: ['dedupe'] },
  { cli: 'checkpoint reset', reasonRequired: true, auditActions: ['checkpoint_reset'] },
  // Issue 4 requires --reason for gc; one record per dataset whose retained versions it removes,
  // one for the staging tables it drops.
  { cli: 'gc', reasonRequired: true, auditActions: ['gc.retention', 'gc.staging'] },
  // A re-queue (--dead, --run) overwrites what the deliveries were and makes consumers act again
  // (consumers/requeue.ts); delivering what is pending writes no record, as any command's dispatch.
  { cli: 'consumers redeliver', reasonRequired: false, defaultReason: 're-queue consumer deliveries', auditActions: ['consumers.redeliver'] },
];

/** A command that only reads. */
const READ_ONLY = { opens: 'read', why: 'read-only' } as const;

/**
 * Commands that write no audit record, and why that is safe. `opens`: how the command opens a DuckDB
 * project (cli/context.ts, duckdb-access.ts): 'read' only reads it, so the file is opened read-only
 * (several readers at once, and a file this user may not write); 'write' changes state.
 */
export const NOT_AUDITED_COMMANDS: Readonly<Record<string, { opens: 'read' | 'write'; why: string }>> = {
  init: { opens: 'write', why: 'creates a new project folder; there is no warehouse or trail yet' },
  plan: READ_ONLY,
  status: READ_ONLY,
  partitions: READ_ONLY,
  history: READ_ONLY,
  diff: READ_ONLY,
  check: READ_ONLY,
  'schema check': READ_ONLY,
  'checkpoint show': READ_ONLY,
  'checkpoint validate': READ_ONLY,
  changes: READ_ONLY,
  query: { opens: 'read', why: 'read-only (runs in a transaction that is always rolled back)' },
  'audit log': READ_ONLY,
  'audit verify': READ_ONLY,
  'audit export': { opens: 'read', why: 'read-only (writes a file outside the project)' },
  'audit lineage': READ_ONLY,
  'consumers list': READ_ONLY,
  'consumers status': READ_ONLY,
  'consumers verify': { opens: 'read', why: 'read-only: compares what consumers serve with the warehouse' },
  ready: READ_ONLY,
  runs: READ_ONLY,
  wait: { opens: 'read', why: 'read-only: follows a run until it finishes' },
  cancel: { opens: 'write', why: 'stops a run between tasks; a cancelled run publishes nothing, so there is no data change to audit (the run records its cancellation and the outbox carries run.cancelled)' },
  serve: { opens: 'write', why: 'hosts the console and API; every mutation it executes goes through the audited commands' },
  worker: { opens: 'write', why: 'executes tasks of runs created (and audited) by ingest, run, backfill or restore' },
};

export function mutatingCommand(cli: string): MutatingCommand | undefined {
  return MUTATING_COMMANDS.find((c) => c.cli === cli);
}

/** True when `tidemark <cli>` must be given --reason. */
export function reasonRequired(cli: string): boolean {
  return mutatingCommand(cli)?.reasonRequired ?? false;
}
