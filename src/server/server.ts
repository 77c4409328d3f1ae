/** Starts the API of `tidemark serve` on a local address and publishes how to reach it (serve.json). */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { Workspace } from '../workspace.js';
import { createApp } from './app.js';
import { startDispatchLoop } from './dispatch-loop.js';
import { removeServeInfo, writeServeInfo, type ServeInfo } from './serve-file.js';

export interface RunningServer {
  info: ServeInfo;
  url: string;
  close(): Promise<void>;
}

export async function startServer(ws: Workspace, options: { host?: string; port?: number; log?: (line: string) => void } = {}): Promise<RunningServer> {
  const host = options.host ?? '127.0.0.1';
  const token = randomBytes(32).toString('hex');
  const app = createApp({ ws, token, log: options.log });
  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const s = serve({ fetch: app.fetch, hostname: host, port: options.port ?? 0 }, () => resolve(s));
    s.once('error', reject);
  });
  const port = (server.address() as AddressInfo).port;
  const info: ServeInfo = { pid: process.pid, host, port, token, project: ws.project.dir, started_at: new Date().toISOString() };
  writeServeInfo(ws.project.dir, info);
  // Pending deliveries are retried while the server runs, not only by the next command.
  const dispatcher = startDispatchLoop(ws, { log: options.log });
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return {
    info,
    url: `http://${hostPart}:${port}`,
    close: async () => {
      await dispatcher.stop();
      await new Promise<void>((resolve) => {
        removeServeInfo(ws.project.dir);
        server.close(() => resolve());
        // Streams of commands still running would hold the server open: end them.
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      });
    },
  };
}
