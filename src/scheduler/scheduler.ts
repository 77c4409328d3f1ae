/**
 * The scheduler of one process: every run computing in it (one CLI command, or all the commands a
 * `tidemark serve` process runs side by side) takes its task slots from the same pools.
 *
 * What isolation is real (DuckDB):
 * - Slots and priority are real and exact: a backfill starts no task while a production run (from its
 *   first task to its publish) could use the slot, and it never interrupts a task: it yields between
 *   tasks. A backfill task already in flight when production arrives runs to its end.
 * - `threads` and `memory_limit` are per DuckDB *instance*, not per connection, and one process has
 *   one instance per file. A pool's `threads` is therefore applied to the whole instance while only
 *   pools with limits are active: a backfill alone with `threads: 1` really uses one core, leaving the
 *   rest of the machine to other work. When a production run becomes active, the instance goes back
 *   to the most generous setting among the active pools (the default: all cores), and a backfill task
 *   still in flight shares those threads until it ends. CPU is not partitioned between two queries
 *   that run at the same moment; the scheduler avoids that moment instead, by priority.
 * - Not governed: planning, ingest (its own stager) and publish transactions, which run on the main
 *   connection one at a time; a production publish can wait behind a backfill's publish.
 * - On PostgreSQL (no setInstanceLimits) `threads` does nothing; slots bound connections.
 */
import os from 'node:os';
import type { Engine } from '../engines/engine.js';
import type { Workspace } from '../workspace.js';
import { SlotScheduler, type PoolLimits } from './pools.js';

export interface SchedulerOptions {
  /** Tasks this process runs at once over all pools (default: the number of cores, or more if a pool has more slots). */
  capacity?: number;
}

export class ProcessScheduler {
  readonly slots: SlotScheduler;
  private readonly limits: EngineLimits | null;

  constructor(pools: Record<string, PoolLimits>, engine: Engine | null, options: SchedulerOptions = {}) {
    const widest = Math.max(1, ...Object.values(pools).map((p) => p.slots));
    this.slots = new SlotScheduler(pools, options.capacity ?? Math.max(os.availableParallelism(), widest));
    this.limits = engine?.setInstanceLimits && Object.values(pools).some((p) => p.threads || p.memory_limit) ? new EngineLimits(engine, pools) : null;
  }

  /**
   * Brings the engine's instance limits in line with the pools now active: before each task starts,
   * and when a run ends. Not on every release, so a backfill running task after task keeps
   * its setting instead of switching it twice per task.
   */
  async applyLimits(): Promise<void> {
    // A pool counts while it runs tasks or has a run that is between tasks or publishing (demand).
    if (this.limits) await this.limits.apply(new Map(this.slots.usage().map((u) => [u.pool, u.running + u.demand])));
  }
}

const byEngine = new WeakMap<Engine, ProcessScheduler>();

/** The scheduler shared by every run on this workspace's engine (created on first use). */
export function schedulerFor(ws: Workspace, options: SchedulerOptions = {}): ProcessScheduler {
  let s = byEngine.get(ws.engine);
  if (!s) byEngine.set(ws.engine, (s = new ProcessScheduler(ws.project.pools, ws.engine, options)));
  return s;
}

/** The pool a run uses unless --pool says otherwise: run and ingest are production, the rest backfill. */
export function defaultPool(kind: string): string {
  return kind === 'run' || kind === 'ingest' ? 'production' : 'backfill';
}

/**
 * Applies the instance-wide threads/memory settings: with tasks running, the most generous setting
 * among their pools (a pool without a limit means the engine default); with none running, the
 * default. Changes are serialized and skipped when nothing changes.
 */
class EngineLimits {
  private chain: Promise<void> = Promise.resolve();
  private current = '';

  constructor(
    private readonly engine: Engine,
    private readonly pools: Record<string, PoolLimits>,
  ) {}

  apply(running: Map<string, number>): Promise<void> {
    const active = [...running].filter(([, n]) => n > 0).map(([pool]) => this.pools[pool]);
    const threads = active.length && active.every((p) => p.threads) ? Math.max(...active.map((p) => p.threads!)) : undefined;
    const memoryLimit = active.length === 1 ? active[0].memory_limit : undefined;
    const key = `${threads ?? ''}|${memoryLimit ?? ''}`;
    this.chain = this.chain.then(async () => {
      if (key === this.current) return;
      this.current = key;
      await this.engine.setInstanceLimits!({ threads, memoryLimit });
    });
    return this.chain;
  }
}
