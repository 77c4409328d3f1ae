/**
 * The override flags a console plan needs, so the console can offer exactly those, each beside the
 * message of what it overrides. They are the CLI's flags (backfill/restore --include-recent,
 * --allow-full-refresh, --allow-empty, --allow-shrink), read from the plan:
 *  - a guard names them at plan time (RECENT, FULL_REFRESH);
 *  - the empty and shrink checks run on computed rows, so the plan cannot know them in advance — but
 *    when the same plan already ran and failed on one, re-issuing it resumes that run, and its
 *    run.failed event lists the validation problems by code (EMPTY_RESULT, SHRINK).
 * `--downstream` is not an override: both forms have their own checkbox for it (api-actions.ts).
 */
import { runKeyOf } from '../execute/run-key.js';
import type { GuardCode } from '../core/guards.js';
import type { Problem } from '../execute/validate.js';
import type { Plan } from '../plan/types.js';
import { latestRunEvent } from '../state/outbox.js';
import { findResumableRun } from '../state/runs.js';
import type { Workspace } from '../workspace.js';

export type OverrideFlag = 'include_recent' | 'allow_full_refresh' | 'allow_empty' | 'allow_shrink';

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
  backfill: ['include_recent', 'allow_full_refresh', 'allow_empty', 'allow_shrink'],
  restore: ['include_recent', 'allow_empty', 'allow_shrink'],
};

const FLAG_OF_GUARD: Partial<Record<GuardCode, OverrideFlag>> = {
  RECENT: 'include_recent',
  FULL_REFRESH: 'allow_full_refresh',
};

/** The validation checks a flag lets pass (validate.ts); the other problems no flag overrides. */
const FLAG_OF_PROBLEM: Partial<Record<Problem['code'], OverrideFlag>> = {
  EMPTY_RESULT: 'allow_empty',
  SHRINK: 'allow_shrink',
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
    if (previous?.status === 'failed') {
      const failure = await latestRunEvent(ws.engine, ws.engine, previous.run_id, 'run.failed');
      const codes = new Set(((failure?.problems ?? []) as Pick<Problem, 'code'>[]).map((p) => p.code));
      for (const code of codes) {
        const flag = FLAG_OF_PROBLEM[code];
        if (flag) add(flag, `the last attempt of this plan (run ${previous.run_id}) failed: ${previous.error ?? String(failure?.error)}`, true);
      }
    }
  }
  return [...found.values()];
}
