/**
 * Slot accounting for resource pools, inside one process.
 *
 * Each pool has `slots` (how many of its tasks may run at once) and a `priority`. All pools share
 * one `capacity` (how many tasks the process runs at once, by default the number of cores). A task
 * acquires a slot before it runs and releases it when it ends; nothing is ever taken from a running
 * task (no preemption), so a backfill yields only between its tasks.
 *
 * When a slot frees, it goes to the waiting task of the highest priority whose pool has room (first
 * come, first served within a priority). And a lower-priority task does not start while that would
 * leave a higher-priority run, which is active and could use the slot, without one: a production run
 * sets `demand` when it starts, and a backfill waits between its tasks for as long as production
 * could use the capacity. That is "production work always goes first", even in the instant between
 * two production tasks when no production task is formally waiting.
 */
import { TidemarkError } from '../errors.js';

export interface PoolLimits {
  slots: number;
  priority: number;
  /** Engine threads for this pool's tasks (see scheduler.ts for what that can mean on DuckDB). */
  threads?: number;
  memory_limit?: string;
  /** Run window (e.g. 22:00-06:00) applied to the pool's runs unless --window says otherwise. */
  window?: string;
}

export interface PoolUsage {
  pool: string;
  slots: number;
  priority: number;
  running: number;
  waiting: number;
  demand: number;
}

/** A granted slot; `release` is idempotent. */
export interface Slot {
  pool: string;
  release(): void;
}

/** One run's membership of a pool: it declares how many tasks it could run at once. */
export interface PoolMember {
  pool: string;
  acquire(): Promise<Slot>;
  leave(): void;
}

interface Waiter {
  pool: string;
  priority: number;
  seq: number;
  grant: (slot: Slot) => void;
}

export type SlotListener = (event: { type: 'granted' | 'released'; pool: string; running: Map<string, number> }) => void;

export class SlotScheduler {
  private readonly running = new Map<string, number>();
  private readonly demand = new Map<string, number>();
  private readonly waiters: Waiter[] = [];
  private seq = 0;
  private readonly listeners = new Set<SlotListener>();

  constructor(
    readonly pools: Record<string, PoolLimits>,
    readonly capacity: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new TidemarkError('USAGE', `scheduler capacity must be a positive integer, got ${capacity}`);
  }

  limits(pool: string): PoolLimits {
    return this.pools[requirePool(this.pools, pool)];
  }

  /** A run joins `pool`, declaring it could run up to `demand` tasks at once until it leaves. */
  join(pool: string, demand: number): PoolMember {
    this.limits(pool);
    const d = Math.max(1, demand);
    this.demand.set(pool, (this.demand.get(pool) ?? 0) + d);
    let left = false;
    return {
      pool,
      acquire: () => this.acquire(pool),
      leave: () => {
        if (left) return;
        left = true;
        this.demand.set(pool, (this.demand.get(pool) ?? 0) - d);
        this.pump();
      },
    };
  }

  /** Waits for a slot of `pool`. */
  acquire(pool: string): Promise<Slot> {
    const { priority } = this.limits(pool);
    return new Promise((resolve) => {
      this.waiters.push({ pool, priority, seq: this.seq++, grant: resolve });
      this.pump();
    });
  }

  usage(): PoolUsage[] {
    return Object.entries(this.pools).map(([pool, p]) => ({
      pool,
      slots: p.slots,
      priority: p.priority,
      running: this.running.get(pool) ?? 0,
      waiting: this.waiters.filter((w) => w.pool === pool).length,
      demand: this.demand.get(pool) ?? 0,
    }));
  }

  /** Observes grants and releases (the engine-limits adapter and tests listen here). */
  onChange(listener: SlotListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private total(): number {
    let n = 0;
    for (const v of this.running.values()) n += v;
    return n;
  }

  /** Slots that active runs of pools with a priority above `priority` could still use. */
  private reservedAbove(priority: number): number {
    let reserved = 0;
    for (const [pool, p] of Object.entries(this.pools)) {
      if (p.priority <= priority) continue;
      const wanted = Math.min(p.slots, this.demand.get(pool) ?? 0, this.capacity);
      reserved += Math.max(0, wanted - (this.running.get(pool) ?? 0));
    }
    return reserved;
  }

  private grantable(w: Waiter): boolean {
    const running = this.running.get(w.pool) ?? 0;
    if (running >= this.pools[w.pool].slots) return false;
    const free = this.capacity - this.total();
    if (free < 1) return false;
    // Higher-priority waiters are served first by pump()'s ordering; this keeps room for
    // higher-priority runs that are between two tasks.
    return free - 1 >= this.reservedAbove(w.priority);
  }

  private pump(): void {
    for (;;) {
      const candidates = this.waiters.filter((w) => this.grantable(w)).sort((a, b) => b.priority - a.priority || a.seq - b.seq);
      const w = candidates[0];
      if (!w) return;
      this.waiters.splice(this.waiters.indexOf(w), 1);
      this.running.set(w.pool, (this.running.get(w.pool) ?? 0) + 1);
      let released = false;
      const slot: Slot = {
        pool: w.pool,
        release: () => {
          if (released) return;
          released = true;
          this.running.set(w.pool, (this.running.get(w.pool) ?? 0) - 1);
          this.notify('released', w.pool);
          this.pump();
        },
      };
      this.notify('granted', w.pool);
      w.grant(slot);
    }
  }

  private notify(type: 'granted' | 'released', pool: string): void {
    for (const l of this.listeners) l({ type, pool, running: new Map(this.running) });
  }
}

/** `pool` when the project declares it; otherwise the usage error every command gives, before it changes anything. */
export function requirePool(pools: Record<string, unknown>, pool: string): string {
  if (!pools[pool]) {
    throw new TidemarkError('USAGE', `unknown pool '${pool}'`, { hint: `pools of this project: ${Object.keys(pools).join(', ')} (declare more under pools: in tidemark.yaml)` });
  }
  return pool;
}
