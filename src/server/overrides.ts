/**
 * The override flags a console plan needs, so the console can offer exactly those, each beside the
 * message of what it overrides. They are the CLI's flags (backfill/restore --include-recent,
 * --allow-full-refresh, --allow-empty, --allow-shrink, --downstream), read from the plan:
 *  - a guard names them at plan time (RECENT, FULL_REFRESH; DEPENDENTS_LEFT_STALE as a notice);
 *  - the empty and shrink checks run on computed rows, so the plan cannot know them in advance — but
 *    when the same plan already ran and failed on one, re-issuing it resumes that run, and its error
 *    says which flag would let it publish.
 */
import { runKeyOf } from '../execute/executor.js';
import type { GuardCode } from '../core/guards.js';
import type { Plan } from '../plan/types.js';
import { findResumableRun } from '../state/runs.js';
import type { Workspace } from '../workspace.js';

export type OverrideFlag = 'include_recent' | 'allow_full_refresh' | 'allow_empty' | 'allow_shrink' | 'downstream';

export interface Override {
  /** The API field (and, dashed, the CLI flag). */
  flag: OverrideFlag;
  option: string;
  /** What it overrides: the guard's message, or the failed run's error. */
  message: string;
  /** True when the action cannot succeed without it (a blocking guard, or the check a resumed run failed). */
  required: boolean;
}

/** Which flags each action accepts (restore has no --allow-full-refresh). */
export const OVERRIDES_OF: Record<'backfill' | 'restore', OverrideFlag[]> = {
  backfill: ['downstream', 'include_recent', 'allow_full_refresh', 'allow_empty', 'allow_shrink'],
  restore: ['downstream', 'include_recent', 'allow_empty', 'allow_shrink'],
};

const FLAG_OF_GUARD: Partial<Record<GuardCode, OverrideFlag>> = {
  RECENT: 'include_recent',
  FULL_REFRESH: 'allow_full_refresh',
  DEPENDENTS_LEFT_STALE: 'downstream',
};

/** `include_recent` → `--include-recent`. */
export function optionOf(flag: OverrideFlag): string {
  return `--${flag.replace(/_/g, '-')}`;
}

export async function overridesFor(ws: Workspace, plan: Plan, action: 'backfill' | 'restore'): Promise<Override[]> {
  const accepted = new Set(OVERRIDES_OF[action]);
  const found = new Map<OverrideFlag, Override>();
  const add = (flag: OverrideFlag, message: string, required: boolean) => {
    if (!accepted.has(flag)) return;
    const seen = found.get(flag);
    if (seen) found.set(flag, { ...seen, message: `${seen.message}; ${message}`, required: seen.required || required });
    else found.set(flag, { flag, option: optionOf(flag), message, required });
  };
  for (const g of plan.guards) {
    const flag = FLAG_OF_GUARD[g.code];
    if (flag) add(flag, g.message, g.blocking);
  }
  if (plan.tasks.length) {
    const previous = await findResumableRun(ws.engine, ws.engine, runKeyOf(plan));
    if (previous?.status === 'failed' && previous.error) {
      for (const flag of ['allow_empty', 'allow_shrink'] as const) {
        if (previous.error.includes(optionOf(flag))) add(flag, `the last attempt of this plan (run ${previous.run_id}) failed: ${previous.error}`, true);
      }
    }
  }
  return [...found.values()];
}
