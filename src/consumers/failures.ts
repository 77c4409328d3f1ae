/**
 * Which deliveries count as "could not be notified", for a command's report and for
 * `tidemark consumers status`: dead-lettered ones, and pending ones whose last attempt failed (a retry
 * is scheduled). A pending delivery never tried yet is just queued. A consumer is `required` unless
 * tidemark.yaml says `required: false`; a required consumer's failure holds its run short of
 * `complete` (completion.ts).
 */
import type { Workspace } from '../workspace.js';
import type { DeliveryStatus, DeliveryWithEvent } from './deliveries.js';

export interface FailedDelivery {
  consumer: string;
  required: boolean;
  event_id: number;
  event_type: string;
  run_id: string;
  /** `pending`: retried after `next_attempt_at`; `dead`: only `consumers redeliver --dead` retries it. */
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at: string | null;
  error: string | null;
}

export function isRequired(ws: Workspace, consumer: string): boolean {
  return ws.project.consumers[consumer]?.required !== false;
}

export function hasFailed(d: DeliveryWithEvent): boolean {
  return d.status === 'dead' || (d.status === 'pending' && d.attempts > 0);
}

export function failedDelivery(ws: Workspace, d: DeliveryWithEvent): FailedDelivery {
  return {
    consumer: d.consumer,
    required: isRequired(ws, d.consumer),
    event_id: d.event_id,
    event_type: d.event_type,
    run_id: d.run_id,
    status: d.status,
    attempts: d.attempts,
    next_attempt_at: d.status === 'pending' ? d.next_attempt_at : null,
    error: d.last_error,
  };
}

/** One line a person can act on: who missed what, why, and what happens next. */
export function describeFailure(f: FailedDelivery): string {
  const who = `${f.required ? 'required' : 'optional'} consumer '${f.consumer}'`;
  const why = f.error ? `: ${f.error}` : '';
  const next = f.status === 'dead' ? `dead-lettered after ${f.attempts} attempt(s)` : f.attempts > 0 ? `${f.attempts} attempt(s) failed, retried later` : 'not attempted yet';
  return `${who} was not notified of ${f.event_type} of run ${f.run_id}${why} (${next})`;
}
