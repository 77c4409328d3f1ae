/** Starts the API of `tidemark serve` on a local address and publishes how to reach it (serve.json). */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { serve } from '@hono/node-server';
import { TidemarkError, usageError } from '../errors.js';
import type { Workspace } from '../workspace.js';
import { createApp } from './app.js';
import { startDispatchLoop } from './dispatch-loop.js';
import { hostPart } from './host-check.js';
import { removeServeInfo, serveFile, writeServeInfo, type ServeInfo } from './serve-file.js';

export interface RunningServer {
  info: ServeInfo;
  url: string;
  close(): Promise<void>;
}

type HttpServer = ReturnType<typeof serve>;

export async function startServer(ws: Workspace, options: { host?: string; port?: number; log?: (line: string) => void } = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const token = randomBytes(32).toString('hex');
  let port = 0;
  let stopping = false;
  const app = createApp({ ws, token, log: options.log, boundHost: host, port: () => port, stopping: () => stopping });
  const server = await listen(app.fetch, host, options.port ?? 0);
  port = (server.address() as AddressInfo).port;
  const info: ServeInfo = { pid: process.pid, host, port, token, project: ws.project.dir, started_at: new Date().toISOString() };
  let dispatcher: ReturnType<typeof startDispatchLoop>;
  try {
    publishServeInfo(ws.project.dir, info);
    // Pending deliveries are retried while the server runs, not only by the next command.
    dispatcher = startDispatchLoop(ws, { log: options.log });
  } catch (error) {
    // Listening already: a server left open would keep the process alive, answering with a closed workspace.
    removeServeInfo(ws.project.dir);
    await closeHttp(server);
    throw error;
  }
  return {
    info,
    url: `http://${hostPart(host)}:${port}`,
    close: async () => {
      stopping = true;
      await dispatcher.stop();
      removeServeInfo(ws.project.dir);
      await closeHttp(server);
    },
  };
}

/** Listens, or fails with a message that says which address could not be used and what to do. */
function listen(fetch: Parameters<typeof serve>[0]['fetch'], host: string, port: number): Promise<HttpServer> {
  return new Promise<HttpServer>((resolve, reject) => {
    const s = serve({ fetch, hostname: host, port }, () => resolve(s));
    s.once('error', (error: NodeJS.ErrnoException) => {
      s.close(() => undefined); // nothing is listening; this only releases the handle
      reject(listenError(error, host, port));
    });
  });
}

function listenError(error: NodeJS.ErrnoException, host: string, port: number): TidemarkError {
  const where = `${hostPart(host)}:${port}`;
  if (error.code === 'EADDRINUSE') return usageError(`cannot listen on ${where}: the port is already in use`, 'stop what uses it, or pick another port: --port N (--port 0 takes any free port)');
  if (error.code === 'EADDRNOTAVAIL' || error.code === 'ENOTFOUND') return usageError(`cannot listen on ${where}: this machine has no such address`, '--host 127.0.0.1 (the default) or one of this machine\'s addresses');
  if (error.code === 'EACCES') return usageError(`cannot listen on ${where}: permission denied`, 'ports below 1024 need privileges: use --port 7391 or above');
  return new TidemarkError('INTERNAL', `cannot listen on ${where}: ${error.message}`, {}, { cause: error });
}

function publishServeInfo(projectDir: string, info: ServeInfo): void {
  try {
    writeServeInfo(projectDir, info);
  } catch (error) {
    const file = serveFile(projectDir);
    throw new TidemarkError('INTERNAL', `cannot write ${file}: ${(error as Error).message}`, {
      hint: `other commands find the server (and the console its token) through this file: make ${path.dirname(file)} a folder you can write to`,
    }, { cause: error });
  }
}

function closeHttp(server: HttpServer): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    // Streams of commands still running (and browsers' event feeds) would hold the server open: end them.
    (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
  });
}
