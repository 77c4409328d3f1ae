/** What a task needs to know about the run it belongs to. */
import type { Plan } from '../plan/types.js';
import type { KeyRange } from './key-ranges.js';
import type { ProcessScheduler } from '../scheduler/scheduler.js';
import type { Clock } from '../scheduler/throttle.js';
import type { Workspace } from '../workspace.js';

/**
 * How a run publishes (DESIGN.md "Publish"): `run`, the default, in one transaction at the end;
 * `partition`, an opt-in for very large runs, once per computed batch, so readers see finished
 * partitions early (and a mix of old and new ones while it runs) and a late failure keeps them.
 */
export type PublishMode = 'run' | 'partition';
export const PUBLISH_MODES: readonly PublishMode[] = ['run', 'partition'];

export interface RunOptions {
  reason: string;
  /** Default 'run'. */
  publish?: PublishMode;
  dryRun?: boolean;
  maxParallel?: number;
  pool?: string;
  allowEmpty?: boolean;
  allowShrink?: boolean;
  /** Throttling (issue 7): at most this many tasks started per minute. */
  rate?: number;
  /** Run window in local time, e.g. '22:00-06:00' (overrides the pool's `window`). */
  window?: string;
}

/**
 * RunOptions with what only tests set. Not exported from the package (src/index.ts), so the public
 * type lists only what users should touch; tests import it from here. A value of it passes wherever
 * RunOptions is asked for, and the run reads these fields from the same object.
 */
export interface InternalRunOptions extends RunOptions {
  /** Time source for rate and window; tests inject one instead of sleeping. */
  clock?: Clock;
  /** The scheduler whose pools the tasks take slots from (default: the one of this process's engine). */
  scheduler?: ProcessScheduler;
  /**
   * Called after preflight, before the run is created; throwing refuses the run with nothing written.
   * Default: the pause handshake with consumers that have `pause: true` (src/consumers/pause.ts), which
   * this replaces: tests use it to hold a run at that point, or to skip the handshake.
   */
  beforeStart?: (ws: Workspace, plan: Plan) => Promise<void>;
}

export interface RunContext {
  ws: Workspace;
  runId: string;
  plan: Plan;
  options: InternalRunOptions;
  /** User-visible columns of each dataset's output (without Tidemark's own). */
  columns: Map<string, string[]>;
  /** Partitions of each dataset already computed into staging in this run. */
  staged: Map<string, Set<string>>;
  /**
   * The run was created by this attempt (not resumed): its tasks are the plan's, all pending, and it
   * has no staging yet, so neither needs to be read.
   */
  newRun?: boolean;
  /**
   * Datasets whose run view (render.ts refViewTable) this attempt created, when the stager keeps
   * count (a new model run creates one only for datasets that a later dataset of the run reads);
   * undefined: any may exist, and cleanup drops every one.
   */
  refViews?: Set<string>;
  /**
   * Datasets whose staged keys validation already proved unique across all the run's staged
   * partitions (one check over all of them, as ingest and restore do): publish then checks them only
   * against the live partitions it leaves alone.
   */
  keysUniqueInStaging?: Set<string>;
  /**
   * The range of the first key column over a dataset's staged rows, when the stager read it (integer
   * keys only, key-ranges.ts): publish then finds live rows that could share a key without reading
   * the staging again.
   */
  stagedKeyRanges?: Map<string, KeyRange>;
  /**
   * Sources whose staged rows sit in a load table that the publish renames to the live table when
   * the dataset still has none (a source's first load: first-load.ts).
   */
  loadTables?: Set<string>;
  /**
   * The tag of the replaced rows this attempt copied to history just before its publish
   * (history-copy.ts); the publish uses only those copies.
   */
  historyCopyTag?: number;
  /**
   * Set by the executor for `--publish partition`: a stager calls it with each batch of a dataset as
   * soon as that batch is computed and validated, and waits for it; publishes run one at a time.
   */
  publishBatch?: (dataset: string, partitions: string[]) => Promise<void>;
}
