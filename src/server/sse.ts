/**
 * The console's live feed. Every command the server runs (CLI commands handed over by other terminals,
 * and the console's own actions) goes through `ConsoleEvents.runCommand`, which forwards the command's
 * own event stream to the requester and also to every browser listening on `GET /api/events`
 * (server-sent events). The hub keeps a small picture of the runs in flight (progress, paused or
 * throttled, publishing) so a console that connects mid-run starts from the current state.
 */
import type { TidemarkEvent } from '../events.js';
import type { Workspace } from '../workspace.js';
import { runHostedCommand, type CommandRequest, type CommandSink } from './hosted.js';

/** A run as the console sees it live; the database has the durable status, this has the motion. */
export interface LiveRun {
  run_id: string;
  kind: string;
  command_id: number;
  state: 'computing' | 'paused' | 'publishing' | 'published' | 'failed';
  tasks: number;
  done: number;
  failed: number;
  /** The last task that started (dataset partition). */
  current: string | null;
  /** Why the run waits (outside its window, or throttled to a rate); kept after it resumes. */
  pause_reason: string | null;
  error: string | null;
  updated_at: string;
}

export interface LiveCommand {
  command_id: number;
  command: string;
  actor: string;
  started_at: string;
  exit_code: number | null;
}

/** What the SSE stream carries: a run/task event, or a command starting/ending. */
export type ConsoleMessage =
  | { kind: 'event'; command_id: number; event: TidemarkEvent }
  | { kind: 'command'; command: LiveCommand };

/** Finished runs and commands kept for a console that reconnects. */
const KEEP = 50;
const HEARTBEAT_MS = 15_000;

export class ConsoleEvents {
  private readonly listeners = new Set<(m: ConsoleMessage) => void>();
  private readonly runs = new Map<string, LiveRun>();
  private readonly commands = new Map<number, LiveCommand>();
  private nextId = 1;

  subscribe(listener: (m: ConsoleMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  snapshot(): { runs: LiveRun[]; commands: LiveCommand[] } {
    return { runs: [...this.runs.values()].reverse(), commands: [...this.commands.values()].reverse() };
  }

  /**
   * Runs a CLI command line in the server (the same path as `POST /api/commands`), publishing its
   * events. `onStart` is told the id the command's messages carry.
   */
  async runCommand(ws: Workspace, request: CommandRequest, sink: CommandSink, onStart?: (commandId: number) => void): Promise<number> {
    const command: LiveCommand = {
      command_id: this.nextId++,
      command: ws.redact(['tidemark', ...request.argv].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')),
      actor: request.actor || ws.actor,
      started_at: new Date().toISOString(),
      exit_code: null,
    };
    this.remember(this.commands, command.command_id, command);
    this.publish({ kind: 'command', command: { ...command } });
    onStart?.(command.command_id);
    const code = await runHostedCommand(ws, request, {
      ...sink,
      event: (event) => {
        this.track(command.command_id, event);
        this.publish({ kind: 'event', command_id: command.command_id, event });
        sink.event(event);
      },
    });
    command.exit_code = code;
    this.publish({ kind: 'command', command: { ...command } });
    return code;
  }

  private publish(message: ConsoleMessage): void {
    for (const listener of this.listeners) {
      try {
        listener(message);
      } catch {
        /* one broken listener must not stop a command */
      }
    }
  }

  private track(commandId: number, e: TidemarkEvent): void {
    if (e.type === 'log') return;
    const now = new Date().toISOString();
    if (e.type === 'run.started') {
      this.remember(this.runs, e.run_id, { run_id: e.run_id, kind: e.kind, command_id: commandId, state: 'computing', tasks: e.tasks, done: 0, failed: 0, current: null, pause_reason: null, error: null, updated_at: now });
      return;
    }
    const run = this.runs.get(e.run_id);
    if (!run) return;
    run.updated_at = now;
    switch (e.type) {
      case 'task.started':
        run.state = 'computing';
        run.current = `${e.dataset} ${e.partition}`;
        break;
      case 'task.finished':
        run.done++;
        if (e.status === 'failed') run.failed++;
        break;
      case 'run.paused':
        run.state = 'paused';
        run.pause_reason = e.reason;
        break;
      case 'run.publishing':
        run.state = 'publishing';
        // Every task is computed by now: an ingest stages its partitions together, without a
        // task.finished per partition, so its count would otherwise stay at 0.
        run.done = run.tasks;
        break;
      case 'run.published':
        run.state = 'published';
        run.current = null;
        break;
      case 'run.failed':
        run.state = 'failed';
        run.error = e.error;
        break;
    }
  }

  private remember<K, V>(map: Map<K, V>, key: K, value: V): void {
    map.delete(key);
    map.set(key, value);
    while (map.size > KEEP) map.delete(map.keys().next().value as K);
  }
}

/**
 * `GET /api/events`: a text/event-stream. It opens with `event: snapshot` (the live picture), then
 * sends `event: run` (a run or task event) and `event: command` messages, and a comment as heartbeat
 * so proxies and browsers keep the connection open.
 */
export function eventStream(hub: ConsoleEvents): Response {
  const encoder = new TextEncoder();
  let stop = () => undefined as void;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const write = (text: string) => {
        try {
          controller.enqueue(encoder.encode(text));
        } catch {
          stop(); // the browser went away
        }
      };
      const send = (event: string, data: unknown) => write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      write('retry: 2000\n\n');
      send('snapshot', hub.snapshot());
      const off = hub.subscribe((m) => (m.kind === 'event' ? send('run', { command_id: m.command_id, ...m.event }) : send('command', m.command)));
      const heartbeat = setInterval(() => write(': keep-alive\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      stop = () => {
        off();
        clearInterval(heartbeat);
      };
    },
    cancel() {
      stop();
    },
  });
  return new Response(body, { headers: { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive' } });
}
