/**
 * Why the run plan rebuilds a partition: the partition whose own inputs changed (or that is missing),
 * found by walking down what the plan rebuilds from the asked one. `ready` asks it of one partition,
 * `partitions` and `status` of every partition the plan rebuilds only because it reads one that is
 * stale or missing, so that all three give the same answer `tidemark run` acts on. Pure: a plan and the
 * snapshot it was built from.
 */
import { getDataset, type Project } from '../config/project.js';
import { frozenPartitions } from '../core/guards.js';
import { sortKeys, type PartitionKey } from '../core/grain.js';
import { describeStaleReasons, inputsFor, partitionsRead, replayRequested, staleReasons, type Snapshot, type StaleReason } from '../core/staleness.js';
import { buildRunPlan } from './build.js';
import type { PlanningState } from './snapshot.js';
import type { Plan, PlannedTask } from './types.js';

export interface StaleCause {
  /** Where the change is: the asked partition itself, or one it reads (directly or through others). */
  dataset: string;
  partition: PartitionKey;
  /** True when that partition is expected (its upstreams have data) but was never built. */
  missing: boolean;
  /** How its inputs changed since it was built, as `tidemark partitions` shows them (empty when missing). */
  changes: StaleReason[];
  /** True when `checkpoint reset` cleared its input fingerprint to have it replayed (then `changes` says nothing true). */
  replay_requested: boolean;
  /** The partitions in between, in reading order: the asked one reads via[0], …, the last reads `dataset partition`. */
  via: { dataset: string; partition: PartitionKey }[];
  /** Set when the asked partition is frozen (protect in tidemark.yaml) or locked: `tidemark run` leaves it stale. */
  protected_from_run: 'frozen' | 'locked' | null;
}

/**
 * The causes of a run plan, one walk per partition asked, each step remembered: a cumulative model's
 * chain (d reads d-1, which reads d-2, …) is walked once for all its partitions, not once per partition.
 */
export class PlanCauses {
  private readonly planned: Map<string, PlannedTask>;
  private readonly skipped = new Set<string>();
  /** id → where the change is, seen from that partition (its `via` starts after it). */
  private readonly memo = new Map<string, Omit<StaleCause, 'protected_from_run'>>();

  constructor(
    private readonly project: Project,
    plan: Plan,
    private readonly snapshot: Snapshot,
  ) {
    this.planned = new Map(plan.tasks.map((t) => [id(t.dataset, t.partition), t]));
    for (const g of plan.guards) if (g.code === 'SKIPPED_PROTECTED') for (const k of g.partitions) this.skipped.add(id(g.dataset, k));
  }

  /** Null when the plan neither rebuilds `dataset key` nor leaves it stale because it is frozen or locked. */
  causeOf(dataset: string, key: PartitionKey): StaleCause | null {
    const asked = id(dataset, key);
    if (!this.planned.has(asked) && !this.skipped.has(asked)) return null;
    const protection = this.planned.has(asked) ? null : frozenPartitions(getDataset(this.project, dataset), [key]).length ? 'frozen' : 'locked';
    return { ...this.walk(dataset, key), protected_from_run: protection };
  }

  /** Walks down what the plan rebuilds to the partition whose own inputs changed (or that is missing). */
  private walk(dataset: string, key: PartitionKey): Omit<StaleCause, 'protected_from_run'> {
    /** The partitions walked before `at`, in reading order. */
    const path: { dataset: string; partition: PartitionKey }[] = [];
    let at = { dataset, partition: key };
    let cause: Omit<StaleCause, 'protected_from_run'>;
    for (;;) {
      const known = this.memo.get(id(at.dataset, at.partition));
      if (known) {
        cause = known;
        break;
      }
      const task = this.planned.get(id(at.dataset, at.partition));
      const changes = task ? (task.stale ?? []) : this.directChanges(at.dataset, at.partition);
      const missing = task?.reason === 'missing';
      // Nothing further to read is unreachable while buildRunPlan only plans a partition for a reason
      // found here; stop there rather than loop.
      const next = missing || changes.length ? null : this.plannedRead(at.dataset, at.partition);
      if (!next) {
        const rec = this.snapshot.get(at.dataset)?.get(at.partition);
        const replay = !missing && changes.length > 0 && rec !== undefined && replayRequested(rec.inputs);
        cause = { dataset: at.dataset, partition: at.partition, missing, changes, replay_requested: replay, via: [] };
        this.memo.set(id(at.dataset, at.partition), cause);
        break;
      }
      path.push(at);
      at = next;
    }
    // Back up the path: each partition's cause is the one of the partition it reads, through it.
    for (let i = path.length - 1; i >= 0; i--) {
      const atEnd = at.dataset === cause.dataset && at.partition === cause.partition;
      cause = { ...cause, via: atEnd ? [] : [at, ...cause.via] };
      this.memo.set(id(path[i].dataset, path[i].partition), cause);
      at = path[i];
    }
    return cause;
  }

  /** Why a partition `run` skips (frozen or locked) is stale itself: its own input changes, if any. */
  private directChanges(dataset: string, key: PartitionKey): StaleReason[] {
    const spec = this.project.datasets.get(dataset);
    const rec = this.snapshot.get(dataset)?.get(key);
    return spec?.kind === 'model' && rec ? staleReasons(rec.inputs, inputsFor(this.project, spec, key, this.snapshot)) : [];
  }

  /** A partition `dataset key` reads (the read relation planning uses) that the plan rebuilds. */
  private plannedRead(dataset: string, key: PartitionKey): { dataset: string; partition: PartitionKey } | null {
    for (const [name, keys] of partitionsRead(this.project, [{ dataset, partition: key }])) {
      for (const k of sortKeys(keys)) {
        if ((name !== dataset || k !== key) && this.planned.has(id(name, k))) return { dataset: name, partition: k };
      }
    }
    return null;
  }
}

/** `which is stale: orders 2026-03-05 changed v1 → v2` or `which is not built yet`, as a clause. */
function whatIsWrong(cause: Pick<StaleCause, 'missing' | 'changes' | 'replay_requested'>): string {
  const described = describeStaleReasons(cause.changes, cause.replay_requested);
  const changes = described.slice(0, 3).join(', ') + (described.length > 3 ? `, and ${described.length - 3} more` : '');
  return cause.missing ? 'is not built yet' : `is stale: ${changes}`;
}

/**
 * What a partition stale only through what it reads reads: `reads daily_revenue 2026-03-05, which is
 * stale: orders 2026-03-05 changed v1 → v2` (a long chain names its ends and counts the middle).
 */
export function describeReadCause(cause: StaleCause): string {
  const chain = [...cause.via, cause].map((p) => `${p.dataset} ${p.partition}`);
  // A cumulative model's chain runs back one partition a day: name its ends, count the middle.
  if (chain.length > 3) chain.splice(1, chain.length - 1, `(through ${chain.length - 2} more) ${chain[chain.length - 1]}`);
  return `reads ${chain.join(', which reads ')}, which ${whatIsWrong(cause)}`;
}

/** The sentence `ready` prints, naming the upstream change and what rebuilds it. */
export function describeStaleCause(dataset: string, key: PartitionKey, cause: StaleCause): string {
  return `${dataset} ${key} ${describeStaleness(dataset, key, cause)}; ${describeStaleFix(dataset, key, cause)}`;
}

/**
 * What is wrong with `dataset key`, said after its name: `is stale: orders 2026-03-05 changed v1 → v2`
 * or `is stale: it reads …`. A range's `ready` names many partitions this way, and its fixes once.
 */
export function describeStaleness(dataset: string, key: PartitionKey, cause: StaleCause): string {
  return cause.dataset === dataset && cause.partition === key ? whatIsWrong(cause) : `is stale: it ${describeReadCause(cause)}`;
}

/** What makes `dataset key` fresh again: `tidemark run`, unless it is frozen or locked. */
export function describeStaleFix(dataset: string, key: PartitionKey, cause: StaleCause): string {
  if (cause.protected_from_run === 'frozen') return `${dataset} ${key} is frozen by protect in tidemark.yaml, so \`tidemark run\` leaves it stale (a reviewed config change unfreezes it)`;
  if (cause.protected_from_run === 'locked') return `${dataset} ${key} is locked, so \`tidemark run\` leaves it stale: \`tidemark unlock ${dataset} …\`, then \`tidemark run\``;
  return 'run `tidemark run` to rebuild';
}

/**
 * dataset → partition → why, for every published model partition that is stale only through what it
 * reads: the run plan rebuilds it (or would, but it is frozen or locked) although its own inputs did
 * not change. Runs in flight are left out, as `ready` leaves them out of staleness: a partition a
 * backfill holds is `building`, and what reads it is stale until the next `run` all the same.
 */
export function staleThroughReads(project: Project, state: PlanningState): Map<string, Map<PartitionKey, string>> {
  const plan = buildRunPlan(project, { ...state, claims: new Map(), inFlight: [], interrupted: [] });
  const causes = new PlanCauses(project, plan, state.snapshot);
  const out = new Map<string, Map<PartitionKey, string>>();
  const note = (dataset: string, key: PartitionKey) => {
    if (!state.snapshot.get(dataset)?.has(key)) return; // missing: its state says so
    const cause = causes.causeOf(dataset, key);
    if (!cause || (cause.dataset === dataset && cause.partition === key)) return; // stale directly: its own reasons say so
    let m = out.get(dataset);
    if (!m) out.set(dataset, (m = new Map()));
    m.set(key, describeReadCause(cause));
  };
  for (const t of plan.tasks) if (t.reason === 'downstream') note(t.dataset, t.partition);
  for (const g of plan.guards) if (g.code === 'SKIPPED_PROTECTED') for (const k of g.partitions) note(g.dataset, k);
  return out;
}

function id(dataset: string, partition: PartitionKey): string {
  return `${dataset}\0${partition}`;
}
