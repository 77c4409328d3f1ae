/**
 * The pause handshake (DESIGN.md failure mode 10). A webhook consumer with `pause: true` that follows
 * a dataset the run will write is sent `run.starting` before compute begins and must answer 2xx
 * within its timeout; otherwise the run does not start (exit 3, nothing written) and the consumers
 * that already agreed to pause are told `run.cancelled` so they resume. Once the run exists, its
 * `run.published` or `run.failed` reaches them through the outbox: their signal to resume.
 */
import { TidemarkError, coerceError } from '../errors.js';
import type { Plan } from '../plan/types.js';
import type { Workspace } from '../workspace.js';
import { isPauseConsumer, subscriptions } from './config.js';
import { postEvent } from './kinds/webhook.js';

/** Pausing consumers that follow a dataset of the plan. */
export function pauseConsumersFor(ws: Workspace, plan: Plan): string[] {
  const planned = new Set(plan.datasets.map((d) => d.dataset));
  const out: string[] = [];
  for (const [name, follows] of subscriptions(ws.project)) {
    if (isPauseConsumer(ws.project.consumers[name]) && follows.some((d) => planned.has(d))) out.push(name);
  }
  return out;
}

function startingEvent(ws: Workspace, plan: Plan, type: 'run.starting' | 'run.cancelled', extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    type,
    project: ws.project.name,
    kind: plan.kind,
    // No run id yet: the run is created only once every pausing consumer agreed.
    request: plan.request,
    actor: ws.actor,
    created_at: new Date().toISOString(),
    datasets: plan.datasets.map((d) => d.dataset),
    partitions: plan.datasets.flatMap((d) => d.partitions.map((partition) => ({ dataset: d.dataset, partition }))),
    ...extra,
  };
}

export async function requestPause(ws: Workspace, plan: Plan): Promise<void> {
  const names = pauseConsumersFor(ws, plan);
  const agreed: string[] = [];
  for (const name of names) {
    const c = ws.project.consumers[name];
    if (c.kind !== 'webhook') continue;
    try {
      await postEvent(c, startingEvent(ws, plan, 'run.starting'));
      agreed.push(name);
      ws.events.emit({ type: 'log', message: `consumer ${name} paused for the run` });
    } catch (error) {
      const why = ws.redact(coerceError(error).message);
      await releasePaused(ws, plan, agreed, `consumer '${name}' did not acknowledge run.starting`);
      throw new TidemarkError('GUARD', `refused: consumer '${name}' did not acknowledge run.starting (${why}); the run was not started and nothing was written`, {
        hint: `consumer '${name}' has pause: true and must answer 2xx within ${c.timeout_ms} ms; retry when it is available, or set pause: false in tidemark.yaml`,
        consumer: name,
      });
    }
  }
}

/**
 * The run a successful `requestPause` paused consumers for was refused before it existed (its
 * admission on a multi-writer engine): they are told `run.cancelled`, as when a consumer refuses.
 */
export async function releasePause(ws: Workspace, plan: Plan, reason: string): Promise<void> {
  await releasePaused(ws, plan, pauseConsumersFor(ws, plan), reason);
}

/** Best effort: a consumer that paused for a run that will not happen may resume. */
async function releasePaused(ws: Workspace, plan: Plan, names: string[], reason: string): Promise<void> {
  for (const name of names) {
    const c = ws.project.consumers[name];
    if (c.kind === 'webhook') await postEvent(c, startingEvent(ws, plan, 'run.cancelled', { reason })).catch(() => undefined);
  }
}
