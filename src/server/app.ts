/**
 * The local API of `tidemark serve`. Every request must name this server in its Host header
 * (host-check.ts: DNS rebinding). GET routes only read. Every other method needs the bearer token
 * from .tidemark/serve.json; `POST /api/commands` runs a CLI command line in this process and streams
 * its progress events, output and exit code back as NDJSON lines:
 *   {"t":"command","command_id":1}  {"t":"event","event":{…}}  {"t":"out","text":"…"}  {"t":"err","text":"…"}
 *   {"t":"alive"}  {"t":"exit","code":0}
 * `{"t":"alive"}` is a keep-alive sent every 30 s: a run paused outside its window, or throttled to a
 * slow rate, says nothing for hours, and an idle stream is cut by HTTP clients (fetch's body timeout
 * is 300 s) and proxies. `POST /api/commands/:id/interrupt` is the
 * client's Ctrl-C (command-interrupts.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import { Hono } from 'hono';
import { coerceError } from '../errors.js';
import { requestCancel } from '../scheduler/cancel.js';
import { listRuns } from '../api/runs.js';
import { parsePositiveInt } from '../cli/commands/core.js';
import { schedulerFor } from '../scheduler/scheduler.js';
import { runLiveness } from '../plan/snapshot.js';
import { getRun, isActive, listTasks } from '../state/runs.js';
import type { Workspace } from '../workspace.js';
import { registerActionRoutes } from './api-actions.js';
import { registerAssetRoutes } from './api-assets.js';
import { registerReadRoutes } from './api-read.js';
import { CommandInterrupts } from './command-interrupts.js';
import { hostCheck } from './host-check.js';
import { runNotFound } from './run-not-found.js';
import { ConsoleEvents } from './sse.js';

export interface AppOptions {
  ws: Workspace;
  token: string;
  /** One line per served command (the server's terminal). */
  log?: (line: string) => void;
  /** The address the server is bound to (--host) and its port, once listening: the Host check. */
  boundHost: string;
  port: () => number;
  /** True once the server is stopping: a command that fails then was cut short, not wrong. */
  stopping?: () => boolean;
}

/** How often a silent command stream carries a keep-alive line (TIDEMARK_SERVE_KEEPALIVE_MS: tests shorten it). */
const KEEPALIVE_MS = Number(process.env.TIDEMARK_SERVE_KEEPALIVE_MS) > 0 ? Number(process.env.TIDEMARK_SERVE_KEEPALIVE_MS) : 30_000;

export function createApp({ ws, token, log = () => undefined, boundHost, port, stopping = () => false }: AppOptions): Hono {
  const app = new Hono();
  const expected = Buffer.from(`Bearer ${token}`);

  app.use('*', hostCheck(boundHost, port)); // first: a foreign Host gets nothing, not even a read

  app.use('*', async (c, next) => {
    if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
    const given = Buffer.from(c.req.header('authorization') ?? '');
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return c.json({ error: 'a bearer token is required (see .tidemark/serve.json)', code: 'TOKEN', hint: 'send `Authorization: Bearer TOKEN` with the token from .tidemark/serve.json' }, 401);
    }
    return next();
  });

  app.onError((error, c) => {
    const err = coerceError(error);
    return c.json({ error: err.message, code: err.code, hint: err.hint }, err.exitCode === 2 ? 400 : err.code === 'NOT_FOUND' ? 404 : 500);
  });
  app.notFound((c) => c.json({ error: `no route ${c.req.method} ${c.req.path}`, code: 'NOT_FOUND' }, 404));

  // The web console (issue 10): its files, read routes, actions, and the live event feed that every
  // command run by this server publishes to (runCommand below instead of runHostedCommand).
  const hub = new ConsoleEvents();
  registerAssetRoutes(app);
  registerReadRoutes(app, ws, hub);
  registerActionRoutes(app, ws, hub, log);

  app.get('/api/health', (c) => c.json({ ok: true, pid: process.pid, project: ws.project.name }));
  // The limit is checked as `tidemark runs --limit` checks it: `?limit=abc` is bad input, not SQL.
  app.get('/api/runs', async (c) => c.json(await listRuns(ws, { limit: parsePositiveInt(c.req.query('limit'), 'limit') })));
  app.get('/api/runs/:id', async (c) => {
    const run = await getRun(ws.engine, ws.engine, c.req.param('id'));
    if (!run) return runNotFound(c, c.req.param('id'));
    // As in GET /api/runs: a run in flight whose process is gone says so (its status still reads computing).
    const interrupted = isActive(run.status) && !(await runLiveness(ws.engine, ws.engine))(run);
    return c.json({ ...run, interrupted, tasks: await listTasks(ws.engine, ws.engine, run.run_id) });
  });
  app.get('/api/pools', (c) => c.json(schedulerFor(ws).slots.usage()));

  app.post('/api/runs/:id/cancel', async (c) => {
    // A run named in the path that does not exist is a 404, as on GET /api/runs/:id (a run named in a
    // request body is bad input: 400).
    if (!(await getRun(ws.engine, ws.engine, c.req.param('id')))) return runNotFound(c, c.req.param('id'));
    const run = await requestCancel(ws.engine, ws.engine, c.req.param('id'));
    return c.json({ run_id: run.run_id, status: run.status });
  });

  const interrupts = new CommandInterrupts(ws);
  app.post('/api/commands/:id/interrupt', async (c) => c.json(await interrupts.interrupt(Number(c.req.param('id')))));

  app.post('/api/commands', async (c) => {
    const body = (await c.req.json().catch(() => null)) as { argv?: unknown; actor?: unknown } | null;
    const argv = body?.argv;
    if (!Array.isArray(argv) || !argv.every((a) => typeof a === 'string')) return c.json({ error: 'expected {"argv": ["run", …]}' }, 400);
    if (argv.includes('serve')) return c.json({ error: 'a server does not start another server' }, 400);
    const actor = typeof body?.actor === 'string' ? body.actor : undefined;
    const encoder = new TextEncoder();
    const started = Date.now();
    let open = true;
    let keepAlive: ReturnType<typeof setInterval> | undefined;
    const stream = new ReadableStream<Uint8Array>({
      async start(controller) {
        const send = (line: object) => {
          if (!open) return;
          try {
            controller.enqueue(encoder.encode(`${JSON.stringify(line)}\n`));
          } catch {
            open = false; // the client went away (detached, or lost): the command still runs to its end
          }
        };
        keepAlive = setInterval(() => send({ t: 'alive' }), KEEPALIVE_MS);
        keepAlive.unref(); // a server shutting down does not wait for it
        let tracked: ReturnType<CommandInterrupts['track']> | undefined;
        try {
          const code = await hub.runCommand(
            ws,
            { argv, actor },
            {
              event: (event) => {
                tracked?.observe(event);
                send({ t: 'event', event });
              },
              stdout: (text) => send({ t: 'out', text }),
              stderr: (text) => send({ t: 'err', text }),
            },
            (commandId) => {
              tracked = interrupts.track(commandId);
              send({ t: 'command', command_id: commandId }); // the id the client's Ctrl-C names
            },
          );
          // Stopping closes the workspace under the commands still running: their error is usually the shutdown.
          const outcome = code !== 0 && stopping() ? `exit ${code} while the server was stopping (a run it started resumes when the command is re-issued)` : `exit ${code}`;
          log(`${actor ?? ws.actor}: tidemark ${ws.redact(argv.join(' '))} → ${outcome} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
          send({ t: 'exit', code });
        } finally {
          clearInterval(keepAlive);
          tracked?.done();
        }
        if (open) controller.close();
      },
      cancel() {
        open = false;
        clearInterval(keepAlive);
      },
    });
    return new Response(stream, { headers: { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' } });
  });

  return app;
}
