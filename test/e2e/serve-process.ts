/**
 * Test helpers for the web console: a real `tidemark serve` child process on a project folder, JSON
 * calls against it, and a reader of its server-sent events. Used by the console API test and the
 * browser test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll } from 'vitest';
import { BIN, builtShop, projectCopies, requireBuild } from '../helpers/project.js';

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  token: string;
  /** Server log lines (its stderr), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** Extra environment (e.g. a PostgreSQL test project's TIDEMARK_PG_SCHEMA_PREFIX). */
  env?: Record<string, string>;
  /** Extra arguments after `serve` (e.g. --host). */
  args?: string[];
}

/** The environment of a serve child process: a fixed actor, no crash point, no other project's prefix. */
export function serveEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, TIDEMARK_ACTOR: 'console-test', NO_COLOR: '1' };
  delete env.TIDEMARK_CRASH_AT;
  delete env.TIDEMARK_PG_SCHEMA_PREFIX;
  return { ...env, ...extra };
}

/** `node bin/tidemark.js serve --port 0 --json`, resolved once it printed where it listens. */
export function startServe(dir: string, options: ServeOptions = {}): Promise<ServeProcess> {
  const args = [BIN, 'serve', '--port', '0', '--json', ...(options.args ?? []), '--project', dir];
  const child = spawn(process.execPath, args, { cwd: dir, env: serveEnv(options.env), stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`serve exited early (${code}): ${err}`)));
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      let info: { url: string };
      try {
        info = JSON.parse(out);
      } catch {
        return; // not all of it yet
      }
      child.removeAllListeners('exit');
      const token = JSON.parse(readFileSync(path.join(dir, '.tidemark', 'serve.json'), 'utf8')).token as string;
      resolve({
        child,
        url: info.url,
        token,
        log: () => err,
        stop: () =>
          new Promise<void>((done) => {
            if (child.exitCode !== null || child.signalCode !== null) return done();
            child.once('exit', () => done());
            child.kill('SIGTERM');
          }),
      });
    });
  });
}

export interface Reply {
  status: number;
  body: any;
}

/** A JSON request; `token` undefined sends no Authorization header. */
export async function call(server: ServeProcess, method: 'GET' | 'POST', route: string, body?: unknown, token?: string): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${server.url}${route}`, { method, headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    /* not JSON: keep the text */
  }
  return { status: res.status, body: parsed };
}

export interface SseMessage {
  event: string;
  data: any;
}

/** Listens to GET /api/events; `until` resolves with the first message a predicate accepts. */
export async function listenEvents(server: ServeProcess): Promise<{ messages: SseMessage[]; contentType: string; until(pred: (m: SseMessage) => boolean): Promise<SseMessage>; close(): void }> {
  const controller = new AbortController();
  const res = await fetch(`${server.url}/api/events`, { signal: controller.signal });
  const messages: SseMessage[] = [];
  const waiters: { pred: (m: SseMessage) => boolean; resolve: (m: SseMessage) => void }[] = [];
  const deliver = (m: SseMessage) => {
    messages.push(m);
    for (const w of waiters.splice(0)) {
      if (w.pred(m)) w.resolve(m);
      else waiters.push(w);
    }
  };
  void (async () => {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data !== undefined) deliver({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      /* aborted */
    }
  })();
  return {
    messages,
    contentType: res.headers.get('content-type') ?? '',
    until: (pred) => {
      const seen = messages.find(pred);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ pred, resolve }));
    },
    close: () => controller.abort(),
  };
}

/**
 * A suite of tests against `tidemark serve` on copies of one built shop project. Registers the
 * suite's hooks: build the shop once, stop every server started through `startServe` after each
 * test, remove the copies at the end. `defaults` are the options every server of the suite gets
 * (a test's own options are merged over them).
 */
export function serveSuite(defaults: ServeOptions = {}): {
  fresh(): string;
  startServe(dir: string, options?: ServeOptions): Promise<ServeProcess>;
  stopAll(): Promise<void>;
} {
  let base: string;
  const copies = projectCopies(() => base);
  const servers: ServeProcess[] = [];
  const stopAll = async () => {
    for (const s of servers.splice(0)) await s.stop();
  };
  beforeAll(async () => {
    requireBuild();
    base = await builtShop();
  }, 300_000);
  afterEach(stopAll);
  afterAll(copies.removeAll);
  return {
    fresh: copies.fresh,
    async startServe(dir, options = {}) {
      const server = await startServe(dir, { ...defaults, ...options, env: { ...defaults.env, ...options.env } });
      servers.push(server);
      return server;
    },
    stopAll,
  };
}
