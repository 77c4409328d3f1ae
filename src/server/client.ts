/**
 * The CLI side of `tidemark serve`: when the project's server is running (its serve.json names a live
 * process), a command is not run here — DuckDB admits one process per file — but sent to the server
 * with the token. Its progress is rendered here on stderr, its output printed on stdout, and its exit
 * code returned, so the command behaves as if it had run locally. Without a server: null, and the CLI
 * runs the command itself as before.
 *
 * As if local also means: a command that waits quietly for hours (a run paused outside its window,
 * a slow --rate) keeps its terminal (the server sends keep-alives; the client uses node:http, which
 * has no body timeout, and gives up only after IDLE_LIMIT_MS without even a keep-alive); Ctrl-C
 * cancels its run between tasks, as `tidemark cancel` does, and a second Ctrl-C detaches; a lost
 * connection says what became of the run and how to follow or stop it.
 */
import { existsSync, statSync } from 'node:fs';
import { request, type IncomingMessage } from 'node:http';
import path from 'node:path';
import { findProjectDir } from '../config/load.js';
import { attachProgress } from '../cli/progress.js';
import { EventBus, type TidemarkEvent } from '../events.js';
import { defaultActor } from '../workspace.js';
import type { InterruptResult } from './command-interrupts.js';
import { readServeInfo, type ServeInfo } from './serve-file.js';

/** Commands that always run locally. */
const LOCAL = new Set(['serve', 'init', 'help']);
/** Global options that take a value (so their value is not taken for the command name). */
const VALUED = new Set(['--project', '--actor']);
/** Options whose value is a path that the server must see absolute. */
const PATH_OPTIONS = new Set(['--project', '--output']);

export async function delegateToServer(argv: string[]): Promise<number | null> {
  const args = argv.slice(2);
  if (args.some((a) => a === '--help' || a === '-h' || a === '--version' || a === '-V')) return null;
  const name = commandName(args);
  if (!name || LOCAL.has(name)) return null;
  let projectDir: string;
  try {
    projectDir = findProjectDir(optionValue(args, '--project') ?? process.cwd());
  } catch {
    return null;
  }
  const info = readServeInfo(projectDir);
  if (!info) return null;
  return send(info, absolutePaths(args));
}

async function send(info: ServeInfo, args: string[]): Promise<number | null> {
  const server = new ServerLink(info);
  let response: IncomingMessage;
  try {
    response = await server.open('/api/commands', { argv: args, actor: optionValue(args, '--actor') ?? defaultActor() });
  } catch {
    return null; // not answering: run locally, which names the holder if the file is still held
  }
  if ((response.statusCode ?? 500) >= 300) {
    const text = await readAll(response).catch(() => '');
    process.stderr.write(`error: tidemark serve (pid ${info.pid}) refused the command: ${response.statusCode} ${text}\n`);
    return 1;
  }
  const events = new EventBus();
  const detachProgress = attachProgress(events, { quiet: args.includes('--json') && !process.stderr.isTTY });
  try {
    return await followCommand(server, response, events);
  } finally {
    detachProgress();
  }
}

/**
 * Renders the command's stream until its exit line. Ctrl-C (or SIGTERM) asks the server to cancel the
 * command's run between tasks, as a local command is stopped: the server then ends the command with
 * the same CANCELLED error and exit code. A second Ctrl-C detaches, leaving the server to go on.
 */
function followCommand(server: ServerLink, response: IncomingMessage, events: EventBus): Promise<number> {
  const pid = server.info.pid;
  let commandId: number | null = null;
  /** Runs the command started, latest last: what a Ctrl-C or a lost connection talks about. */
  const runs: string[] = [];
  let code: number | null = null;
  let interrupts = 0;
  let cancelAsked: Promise<InterruptResult | null> = Promise.resolve(null);
  let ended = false;
  let done = false;
  let idle: ReturnType<typeof setTimeout> | undefined;

  return new Promise<number>((resolve) => {
    const finish = (result: number | Promise<number>) => {
      if (done) return;
      done = true;
      clearTimeout(idle);
      for (const s of SIGNALS) process.off(s, onSignal);
      void Promise.resolve(result).then(resolve);
    };
    const restartIdleTimer = () => {
      clearTimeout(idle);
      // The server sends a keep-alive while the command is silent: this much silence means it is gone.
      idle = setTimeout(() => response.destroy(new Error(`nothing heard for ${Math.round(IDLE_LIMIT_MS / 1000)}s, not even a keep-alive`)), IDLE_LIMIT_MS);
    };
    const onSignal = () => {
      interrupts++;
      if (interrupts === 1) {
        cancelAsked = askToCancel(server, commandId, runs.at(-1) ?? null);
        return;
      }
      // Second Ctrl-C: stop listening; the server goes on with the command.
      void cancelAsked.then((asked) => {
        process.stderr.write(detachedMessage(pid, asked, runs.at(-1) ?? null));
        response.destroy();
        finish(130);
      });
    };
    for (const s of SIGNALS) process.on(s, onSignal);

    let buffer = '';
    response.setEncoding('utf8');
    restartIdleTimer();
    response.on('data', (chunk: string) => {
      restartIdleTimer();
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.trim()) continue;
        const msg = parseLine(line);
        if (msg.t === 'command' && typeof msg.command_id === 'number') commandId = msg.command_id;
        else if (msg.t === 'event' && msg.event) {
          if (msg.event.type === 'run.started') runs.push(msg.event.run_id);
          events.emit(msg.event);
        } else if (msg.t === 'out') process.stdout.write(msg.text ?? '');
        else if (msg.t === 'err') process.stderr.write(msg.text ?? '');
        else if (msg.t === 'exit') code = msg.code ?? 1;
        // 'alive': a keep-alive, nothing to show
      }
    });
    response.on('end', () => {
      ended = true;
      if (code !== null) return finish(code);
      process.stderr.write(`error: tidemark serve (pid ${pid}) ended the command without a result\nhint: see \`tidemark runs\`; re-issuing the command resumes it\n`);
      finish(1);
    });
    let lostReason = 'the connection closed';
    // 'aborted': the server's end of the connection closed mid-command (it stopped, or was killed).
    response.on('error', (error) => (lostReason = error.message === 'aborted' ? 'the server closed the connection mid-command' : error.message));
    response.on('close', () => {
      if (ended || done) return;
      finish(reportLost(server, lostReason, runs.at(-1) ?? null));
    });
  });
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];

/** The client gives up on a server silent this long, keep-alives included (TIDEMARK_SERVE_IDLE_MS: tests shorten it). */
const IDLE_LIMIT_MS = Number(process.env.TIDEMARK_SERVE_IDLE_MS) > 0 ? Number(process.env.TIDEMARK_SERVE_IDLE_MS) : 180_000;

type StreamLine = { t: string; command_id?: number; event?: TidemarkEvent; text?: string; code?: number };

/** A line of the command's stream; a garbled one is skipped (its exit line still decides the outcome). */
function parseLine(line: string): StreamLine {
  try {
    return JSON.parse(line) as StreamLine;
  } catch {
    return { t: 'garbled' };
  }
}

/** First Ctrl-C: the server cancels the command's run between tasks; says what it did. */
async function askToCancel(server: ServerLink, commandId: number | null, runId: string | null): Promise<InterruptResult | null> {
  const again = 'Ctrl-C again to detach and leave it to tidemark serve';
  if (commandId === null) {
    process.stderr.write(`tidemark: the command has not started in tidemark serve yet; ${again}.\n`);
    return null;
  }
  let result: InterruptResult;
  try {
    result = (await server.json('POST', `/api/commands/${commandId}/interrupt`)) as InterruptResult;
  } catch (error) {
    process.stderr.write(`tidemark: could not ask tidemark serve (pid ${server.info.pid}) to cancel${runId ? ` run ${runId}` : ''}: ${(error as Error).message}; ${again}.\n`);
    return null;
  }
  if (!result.running) return result; // it already ended: its exit line is on its way
  if (!result.runs.length) {
    process.stderr.write(`tidemark: cancelling: the command has started no run yet; its run is cancelled as soon as it starts. ${again}.\n`);
  }
  for (const run of result.runs) {
    if (run.status === 'cancelling' || run.status === 'cancelled') {
      process.stderr.write(`tidemark: cancelling run ${run.run_id}: it stops between tasks, publishes nothing and keeps its computed partitions for a resume. ${again}.\n`);
    } else process.stderr.write(`tidemark: run ${run.run_id} cannot be cancelled: ${run.error ?? run.status}. ${again}.\n`);
  }
  return result;
}

/** Second Ctrl-C: what goes on in the server without us, and how to follow or stop it. */
function detachedMessage(pid: number, asked: InterruptResult | null, runId: string | null): string {
  const cancelling = asked?.runs.find((r) => r.status === 'cancelling' || r.status === 'cancelled');
  if (cancelling) return `tidemark: detached; run ${cancelling.run_id} still stops between tasks in tidemark serve (pid ${pid})\nhint: follow it with \`tidemark runs\`; re-issue the same command to resume it\n`;
  if (runId) return `tidemark: detached; run ${runId} goes on in tidemark serve (pid ${pid})\nhint: follow it with \`tidemark runs\`; stop it with \`tidemark cancel ${runId}\`\n`;
  const pending = asked?.running ? '; its run is cancelled as soon as it starts' : '';
  return `tidemark: detached; the command goes on in tidemark serve (pid ${pid})${pending}\nhint: follow it with \`tidemark runs\`; stop a run with \`tidemark cancel RUN\`\n`;
}

/** The stream broke before the exit line: say what became of the run and how to follow or stop it. */
async function reportLost(server: ServerLink, reason: string, runId: string | null): Promise<number> {
  process.stderr.write(`error: lost the connection to tidemark serve (pid ${server.info.pid}): ${reason}\n`);
  if (!runId) {
    process.stderr.write('hint: the command may still be running in tidemark serve: see `tidemark runs`; `tidemark cancel RUN` stops a run\n');
    return 1;
  }
  const run = (await server.json('GET', `/api/runs/${encodeURIComponent(runId)}`).catch(() => null)) as { status?: string } | null;
  if (!run?.status) {
    process.stderr.write(`hint: tidemark serve is not answering; run ${runId} was interrupted and stays resumable: re-issue the same command to resume it (\`tidemark runs\` shows it)\n`);
  } else if (run.status === 'computing' || run.status === 'cancelling' || run.status === 'publishing' || run.status === 'queued') {
    process.stderr.write(`hint: run ${runId} is still ${run.status} in tidemark serve: follow it with \`tidemark runs\`; stop it with \`tidemark cancel ${runId}\`\n`);
  } else {
    process.stderr.write(`hint: run ${runId} is ${run.status}: see \`tidemark runs\`\n`);
  }
  return 1;
}

/** Plain node:http to the server: unlike fetch (undici), no 300 s body timeout cuts a command that waits quietly. */
class ServerLink {
  private readonly host: string;

  constructor(readonly info: ServeInfo) {
    this.host = info.host.includes(':') ? `[${info.host}]` : info.host === '0.0.0.0' ? '127.0.0.1' : info.host;
  }

  /**
   * Sends a request and resolves with the response as soon as its headers arrive; rejects if the
   * server does not answer. `timeoutMs`: the longest silence on the connection before giving up.
   */
  open(route: string, body?: unknown, method = 'POST', timeoutMs?: number): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const req = request(`http://${this.host}:${this.info.port}${route}`, {
        method,
        headers: { authorization: `Bearer ${this.info.token}`, ...(payload ? { 'content-type': 'application/json' } : {}) },
      });
      // The OS notices a server machine that vanished without closing the connection.
      req.on('socket', (socket) => socket.setKeepAlive(true, 30_000));
      if (timeoutMs) req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000}s`)));
      req.once('response', resolve);
      req.once('error', reject);
      req.end(payload);
    });
  }

  /** A short JSON request (a cancel, a run's status), given up after 10 s. */
  async json(method: 'GET' | 'POST', route: string): Promise<unknown> {
    const response = await this.open(route, undefined, method, 10_000);
    const text = await readAll(response);
    if ((response.statusCode ?? 500) >= 300) throw new Error(`${response.statusCode} ${text}`);
    return JSON.parse(text);
  }
}

function readAll(response: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    response.setEncoding('utf8');
    response.on('data', (chunk: string) => (text += chunk));
    response.on('end', () => resolve(text));
    response.on('error', reject);
  });
}

/** The first argument that is neither an option nor a global option's value. */
function commandName(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (VALUED.has(a)) i++;
    else if (a === '--wait' && /^\d+(\.\d+)?$/.test(args[i + 1] ?? '')) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

function optionValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1];
    if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
  }
  return undefined;
}

/**
 * The server runs in another folder: files named relative to this terminal's folder (ingest FILE…,
 * --output FILE, --project DIR) are sent as absolute paths.
 */
function absolutePaths(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0 && PATH_OPTIONS.has(a.slice(0, eq))) out.push(`${a.slice(0, eq)}=${path.resolve(a.slice(eq + 1))}`);
    else if (PATH_OPTIONS.has(a) && i + 1 < args.length) out.push(a, path.resolve(args[++i]));
    else if (!a.startsWith('-') && !path.isAbsolute(a) && isFile(a)) out.push(path.resolve(a));
    else out.push(a);
  }
  return out;
}

function isFile(p: string): boolean {
  try {
    return existsSync(p) && statSync(p).isFile();
  } catch {
    return false;
  }
}
