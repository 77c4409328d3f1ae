/**
 * A plan the caller reviewed and hands back (`backfill(ws, request, options, plan)`, and likewise
 * restore and dedupe) is executed only while it is still the plan: planned again now, from the same
 * request, it must refuse nothing and name the same partitions, guards and request. Guards are
 * decided at plan time, and anything may have happened since the review (a lock, a run, an ingest;
 * on PostgreSQL, another user while a person read the plan): executing the old plan as it was would
 * publish into partitions locked meanwhile, or run a plan of another request than the one named.
 */
import { TidemarkError } from '../errors.js';
import { assertNoBlockingGuards } from '../execute/executor.js';
import { planId } from '../plan/plan-id.js';
import type { Plan } from '../plan/types.js';

export function assertStillThePlan(confirmed: Plan, fresh: Plan): void {
  // A guard that refuses the fresh plan (the lock placed since) says more than "it changed".
  assertNoBlockingGuards(fresh);
  if (planId(confirmed) === planId(fresh) && JSON.stringify(confirmed.request) === JSON.stringify(fresh.request)) return;
  throw new TidemarkError('CONFIRM', `refused: the ${fresh.kind} plan changed since it was reviewed (other writes happened), or it is not the plan of this request; nothing was written`, {
    hint: 'plan the request again, review the new plan, and pass that one',
  });
}
