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
];

/** Commands that write no audit record, and why that is safe. */
export const NOT_AUDITED_COMMANDS: Readonly<Record<string, string>> = {
  init: 'creates a new project folder; there is no warehouse or trail yet',
  plan: 'read-only',
  status: 'read-only',
  partitions: 'read-only',
  history: 'read-only',
  diff: 'read-only',
  check: 'read-only',
  'schema check': 'read-only',
  'checkpoint show': 'read-only',
  'checkpoint validate': 'read-only',
  changes: 'read-only',
  query: 'read-only (runs in a transaction that is always rolled back)',
  'audit log': 'read-only',
  'audit verify': 'read-only',
  'audit export': 'read-only (writes a file outside the project)',
  'audit lineage': 'read-only',
  'consumers list': 'read-only',
  'consumers status': 'read-only',
  'consumers redeliver': 'changes delivery bookkeeping only, never data; each delivery is recorded in deliveries',
  'consumers verify': 'read-only: compares what consumers serve with the warehouse',
  ready: 'read-only',
  runs: 'read-only',
  wait: 'read-only: follows a run until it finishes',
  cancel: 'stops a run between tasks; a cancelled run publishes nothing, so there is no data change to audit (the run records its cancellation and the outbox carries run.cancelled)',
  serve: 'hosts the console and API; every mutation it executes goes through the audited commands',
  worker: 'executes tasks of runs created (and audited) by ingest, run, backfill or restore',
};

export function mutatingCommand(cli: string): MutatingCommand | undefined {
  return MUTATING_COMMANDS.find((c) => c.cli === cli);
}

/** True when `tidemark <cli>` must be given --reason. */
export function reasonRequired(cli: string): boolean {
  return mutatingCommand(cli)?.reasonRequired ?? false;
}
