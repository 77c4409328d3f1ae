/**
 * The console's actions: plan a backfill or a restore, then start it; lock and unlock a range. The
 * app's middleware already requires the bearer token on every POST. A request is checked first (its
 * shape, the dataset, the dates, the reason, the guards — all by the same library functions the CLI
 * uses, writing nothing), so bad input is a 400 with the CLI's message and nothing runs. Then the
 * action runs as the CLI command line it stands for (`backfill DS --from … --reason … --yes --json`),
 * in this process, through `ConsoleEvents.runCommand` — the exact path of a command handed over by
 * another terminal, so its progress reaches `GET /api/events`.
 *
 * A plan also lists the `overrides` it needs (overrides.ts): the CLI's --include-recent,
 * --allow-full-refresh, --allow-empty, --allow-shrink, each with the message of what it overrides. A
 * request enables one with its field (`include_recent: true`…); the action then runs with the flag,
 * exactly as the CLI command would. `downstream: true` is the form's own choice and runs with
 * --downstream.
 *
 * A plan carries a `plan_id` (a hash of its tasks and guards). Starting with a `plan_id` that no
 * longer matches a fresh plan is refused (409) with the fresh plan, in the very shape the plan route
 * answers (planResponse): what runs is what the user confirmed, and the plan shown instead keeps its
 * overrides (and, for a restore, what it restores).
 */
import type { Context, Hono } from 'hono';
import * as z from 'zod';
import { planBackfill, requireReason } from '../api/operations.js';
import { planRestore, type RestorePlan } from '../api/versions.js';
import { planJson } from '../cli/render.js';
import { refusalText, TidemarkError, usageError } from '../errors.js';
import { resolveRange } from '../plan/build.js';
import { planId } from '../plan/plan-id.js';
import { blockingGuards, type Plan } from '../plan/types.js';
import type { Workspace } from '../workspace.js';
import { driftNotice } from './config-drift.js';
import { optionOf, overridesFor, OVERRIDES_OF, type OverrideFlag } from './overrides.js';
import type { ConsoleEvents } from './sse.js';

const range = { dataset: z.string().min(1, 'dataset is required'), from: z.string().min(1, 'from is required'), to: z.string().min(1, 'to is required') };
// The CLI's override flags, each false unless the user ticked it (overrides.ts says when one is needed).
// allow_empty and allow_shrink act on computed rows, not on the plan; plan routes accept them too, so
// the console sends one request to review and to start.
const flag = z.boolean().optional();
const backfillPlanBody = z
  .object({ ...range, downstream: flag, include_recent: flag, allow_full_refresh: flag, allow_empty: flag, allow_shrink: flag })
  .strict();
const backfillBody = backfillPlanBody
  .extend({ reason: z.string().optional(), plan_id: z.string().optional(), rate: z.string().optional(), window: z.string().optional() })
  .strict();
const restorePlanBody = z
  .object({ dataset: z.string().min(1, 'dataset is required'), run: z.string().min(1, 'run is required'), downstream: flag, include_recent: flag, allow_empty: flag, allow_shrink: flag })
  .strict();
const restoreBody = restorePlanBody.extend({ reason: z.string().optional(), plan_id: z.string().optional() }).strict();
const lockBody = z.object({ ...range, reason: z.string().optional() }).strict();

/**
 * `log`: the server's terminal, told each action's command line and exit code like handed-over commands.
 * Free text the user typed (a reason, a rate, a window) goes in as `--flag=value`: as a separate word,
 * a value that reads like a flag of the command (`--json`) would be parsed as that flag. The dataset,
 * dates and run are checked against the project before the command line is built.
 */
export function registerActionRoutes(app: Hono, ws: Workspace, hub: ConsoleEvents, log: (line: string) => void = () => undefined): void {
  const start = (c: Context, argv: string[]) => startCommand(c, hub, ws, argv, log);
  // The middleware has checked the token by the time this answers: the console's "is my token right?".
  app.post('/api/auth/check', (c) => c.json({ ok: true, actor: ws.actor }));

  app.post('/api/plan/backfill', async (c) => {
    const body = await parseBody(c, backfillPlanBody);
    return c.json(await planResponse(ws, { action: 'backfill', plan: await planBackfill(ws, backfillRequest(body)) }));
  });

  app.post('/api/plan/restore', async (c) => {
    const body = await parseBody(c, restorePlanBody);
    return c.json(await planResponse(ws, { action: 'restore', restore: await planRestore(ws, restoreRequest(body)) }));
  });

  app.post('/api/actions/backfill', async (c) => {
    const body = await parseBody(c, backfillBody);
    requireReason(body.reason, 'backfill');
    const refused = await checkPlan(c, ws, { action: 'backfill', plan: await planBackfill(ws, backfillRequest(body)) }, body.plan_id);
    if (refused) return refused;
    const argv = ['backfill', body.dataset, '--from', body.from, '--to', body.to, `--reason=${body.reason}`, '--yes', '--json'];
    argv.push(...actionOptions(body, 'backfill'));
    if (body.rate) argv.push(`--rate=${body.rate}`);
    if (body.window) argv.push(`--window=${body.window}`);
    return start(c, argv);
  });

  app.post('/api/actions/restore', async (c) => {
    const body = await parseBody(c, restoreBody);
    requireReason(body.reason, 'restore');
    const refused = await checkPlan(c, ws, { action: 'restore', restore: await planRestore(ws, restoreRequest(body)) }, body.plan_id);
    if (refused) return refused;
    const argv = ['restore', body.dataset, '--run', body.run, `--reason=${body.reason}`, '--yes', '--json', ...actionOptions(body, 'restore')];
    return start(c, argv);
  });

  for (const action of ['lock', 'unlock'] as const) {
    app.post(`/api/actions/${action}`, async (c) => {
      const body = await parseBody(c, lockBody);
      requireReason(body.reason, action);
      resolveRange(ws.project, body.dataset, body.from, body.to); // unknown dataset, bad or reversed dates: 400
      return start(c, [action, body.dataset, '--from', body.from, '--to', body.to, `--reason=${body.reason}`, '--json']);
    });
  }
}

async function parseBody<T extends z.ZodType>(c: Context, schema: T): Promise<z.infer<T>> {
  const raw: unknown = await c.req.json().catch(() => undefined);
  if (raw === undefined) throw usageError('the request body must be a JSON object');
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => (i.path.length ? `${i.path.join('.')}: ${i.message}` : i.message));
    throw usageError(`bad request: ${problems.join('; ')}`);
  }
  return parsed.data;
}

function backfillRequest(body: z.infer<typeof backfillPlanBody>) {
  return { dataset: body.dataset, from: body.from, to: body.to, downstream: body.downstream, includeRecent: body.include_recent, allowFullRefresh: body.allow_full_refresh };
}

function restoreRequest(body: z.infer<typeof restorePlanBody>) {
  return { dataset: body.dataset, run: body.run, downstream: body.downstream, includeRecent: body.include_recent };
}

/** The CLI flags of a request: the command line the action runs as. */
function actionOptions(body: { downstream?: boolean } & Partial<Record<OverrideFlag, boolean | undefined>>, action: Action): string[] {
  // --downstream is the form's own checkbox, not an override a plan asks for: sent whenever ticked.
  const downstream = body.downstream === true ? ['--downstream'] : [];
  return [...downstream, ...OVERRIDES_OF[action].filter((f) => body[f] === true).map(optionOf)];
}

function describePlan(plan: Plan) {
  return {
    ...planJson(plan),
    plan_id: planId(plan),
    targets: plan.targets,
    tasks: plan.tasks.map((t) => ({ dataset: t.dataset, partition: t.partition, reason: t.reason, current_rows: t.current_rows, current_version: t.current_version })),
    blocked: blockingGuards(plan).length > 0,
  };
}

function describeRestore(p: RestorePlan) {
  return { ...describePlan(p.plan), restored: p.sources, already_current: p.already_current, not_restorable: p.not_restorable };
}

type Action = 'backfill' | 'restore';
/** A fresh plan of an action: a restore's plan comes with what it restores. */
type Planned = { action: 'backfill'; plan: Plan } | { action: 'restore'; restore: RestorePlan };

const planOf = (planned: Planned): Plan => (planned.action === 'restore' ? planned.restore.plan : planned.plan);

/**
 * A plan as the console shows it, with the overrides it needs: the plan routes answer this, and so
 * does a 409 for a changed plan, which the console shows in place of the one the user confirmed.
 */
async function planResponse(ws: Workspace, planned: Planned) {
  const described = planned.action === 'restore' ? describeRestore(planned.restore) : describePlan(planned.plan);
  // Starting this plan would be refused while the project files differ from the server's copy.
  const configChanged = driftNotice(ws);
  return { ...described, ...(configChanged ? { config_changed: configChanged, blocked: true } : {}), overrides: await overridesFor(ws, planOf(planned), planned.action) };
}

/** 409 when a guard refuses the plan, or the plan is not the one the user confirmed. */
async function checkPlan(c: Context, ws: Workspace, planned: Planned, confirmed: string | undefined): Promise<Response | null> {
  const plan = planOf(planned);
  const blocking = blockingGuards(plan);
  if (blocking.length) {
    const { message, hint } = refusalText(blocking);
    return c.json({ error: message, code: 'GUARD', hint, guards: blocking }, 409);
  }
  if (!plan.tasks.length) return c.json({ error: 'nothing to do: every partition in the range is up to date', code: 'USAGE' }, 400);
  if (confirmed !== undefined && confirmed !== planId(plan)) {
    const error = 'the plan changed since it was shown (other writes happened); review the new plan before starting';
    return c.json({ error, code: 'CONFIRM', plan: await planResponse(ws, planned) }, 409);
  }
  return null;
}

/** HTTP status for a CLI exit code (DESIGN.md): usage 2 → 400, guard/confirm 3 → 409, check 4 → 422. */
const STATUS_OF_EXIT: Record<number, 400 | 409 | 422> = { 2: 400, 3: 409, 4: 422 };

/**
 * Runs the command line and answers as soon as its run has started (202, with the run id; progress
 * follows on /api/events), or when it ends without a run (lock, unlock, an early refusal).
 */
function startCommand(c: Context, hub: ConsoleEvents, ws: Workspace, argv: string[], log: (line: string) => void): Promise<Response> {
  let stdout = '';
  let stderr = '';
  let commandId = 0;
  return new Promise<Response>((resolve) => {
    let answered = false;
    const answer = (r: Response) => {
      if (!answered) resolve(r);
      answered = true;
    };
    hub
      .runCommand(
        ws,
        { argv },
        {
          event: (e) => {
            if (e.type === 'run.started') answer(c.json({ status: 'started', command_id: commandId, run_id: e.run_id, tasks: e.tasks }, 202));
          },
          stdout: (text) => (stdout += text),
          stderr: (text) => (stderr += text),
        },
        (id) => (commandId = id),
      )
      .then((code) => {
        log(`${ws.actor} (console): tidemark ${ws.redact(argv.join(' '))} → exit ${code}`);
        if (code === 0) return answer(c.json({ status: 'done', command_id: commandId, exit_code: 0, result: parseJsonOutput(stdout) }));
        // Actions run with --json: a failure prints its error object (every hint line, the refusing guards).
        const reported = (parseJsonOutput(stdout) as { error?: { message?: string; hint?: string; guards?: unknown } } | null)?.error;
        const error = reported?.message ?? /^error: (.*)$/m.exec(stderr)?.[1] ?? `exit code ${code}`;
        const hint = reported ? reported.hint : /^hint: (.*)$/m.exec(stderr)?.[1];
        answer(c.json({ error, hint, ...(reported?.guards ? { guards: reported.guards } : {}), exit_code: code, command_id: commandId }, STATUS_OF_EXIT[code] ?? 500));
      })
      .catch((error: unknown) => answer(c.json({ error: new TidemarkError('INTERNAL', String(error)).message, command_id: commandId }, 500)));
  });
}

function parseJsonOutput(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text.trim() || null;
  }
}
