/** What a task needs to know about the run it belongs to. */
import type { Plan } from '../plan/types.js';
import type { Workspace } from '../workspace.js';

export interface RunOptions {
  reason: string;
  yes?: boolean;
  dryRun?: boolean;
  maxParallel?: number;
  pool?: string;
  allowEmpty?: boolean;
  allowShrink?: boolean;
  /** Publish each partition in its own transaction instead of one for the whole run. */
  publishPerPartition?: boolean;
  /** Test hook: called at named points so crash tests can kill the process there. */
  onCheckpoint?: (point: string) => void;
}

export interface RunContext {
  ws: Workspace;
  runId: string;
  plan: Plan;
  options: RunOptions;
  /** User-visible columns of each dataset's output (without Tidemark's own). */
  columns: Map<string, string[]>;
  /** Partitions of each dataset already computed into staging in this run. */
  staged: Map<string, Set<string>>;
}
