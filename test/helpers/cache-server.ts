/**
 * A real dashboard cache for the consumer tests: node:http on 127.0.0.1 (port 0). It caches one value
 * per day, read from the warehouse through a callback on a miss, and drops days on a signed webhook.
 * It checks the HMAC itself (not with Tidemark's code), and can be told to fail the next N webhook
 * requests, to acknowledge invalidations without applying them, or to refuse a pause.
 */
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedWebhook {
  type: string;
  event_id: number | null;
  /** The HTTP status the server answered. */
  status: number;
  signatureValid: boolean;
  body: Record<string, any>;
}

export interface CacheServer {
  /** Where the webhook posts. */
  webhookUrl: string;
  /** The dashboard endpoint, with `{partition}` for Tidemark's verify. */
  dashboardUrl: string;
  received: ReceivedWebhook[];
  /** Answer 500 to the next `n` webhook requests (of `type` only, when given). */
  failNext(n: number, type?: string): void;
  /** Acknowledge invalidations (200) without dropping anything: a buggy cache. */
  ignoreInvalidations(on: boolean): void;
  /** Answer run.starting with 503: the consumer refuses to pause. */
  refusePause(on: boolean): void;
  /** What the dashboard shows for a day (through the cache). */
  value(day: string): Promise<number | null>;
  cachedDays(): string[];
  close(): Promise<void>;
}

export async function startCacheServer(options: {
  secret?: string;
  dataset?: string;
  read: (day: string) => Promise<number | null>;
  /** Awaited when a webhook arrives, before it is answered: a test looks at the state at that moment. */
  onWebhook?: (body: Record<string, any>) => Promise<void>;
}): Promise<CacheServer> {
  const cache = new Map<string, number | null>();
  const received: ReceivedWebhook[] = [];
  let failures = { n: 0, type: undefined as string | undefined };
  let ignore = false;
  let refuse = false;

  const readBody = (req: IncomingMessage) =>
    new Promise<string>((resolve, reject) => {
      let text = '';
      req.on('data', (b: Buffer) => (text += b.toString()));
      req.on('end', () => resolve(text));
      req.on('error', reject);
    });

  const reply = (res: ServerResponse, status: number, body: unknown) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method === 'POST' && url.pathname === '/invalidate') {
        const text = await readBody(req);
        const body = JSON.parse(text) as Record<string, any>;
        const expected = options.secret ? `sha256=${createHmac('sha256', options.secret).update(text).digest('hex')}` : undefined;
        const signatureValid = expected === undefined || req.headers['x-tidemark-signature'] === expected;
        await options.onWebhook?.(body);
        const record = (status: number) => received.push({ type: String(body.type), event_id: body.event_id ?? null, status, signatureValid, body });
        if (!signatureValid) return record(401), reply(res, 401, { error: 'bad signature' });
        if (failures.n > 0 && (!failures.type || failures.type === body.type)) {
          failures = { ...failures, n: failures.n - 1 };
          return record(500), reply(res, 500, { error: 'injected failure' });
        }
        if (body.type === 'run.starting' && refuse) return record(503), reply(res, 503, { error: 'busy: cannot pause now' });
        if (body.type === 'run.published' && !ignore) {
          for (const p of body.partitions ?? []) if (!options.dataset || p.dataset === options.dataset) cache.delete(p.partition);
        }
        return record(200), reply(res, 200, { ok: true });
      }
      const day = /^\/dashboard\/(\d{4}-\d{2}-\d{2})$/.exec(url.pathname)?.[1];
      if (req.method === 'GET' && day) {
        if (!cache.has(day)) cache.set(day, await options.read(day));
        return reply(res, 200, { day, value: cache.get(day) });
      }
      reply(res, 404, { error: 'not found' });
    } catch (error) {
      reply(res, 503, { error: (error as Error).message });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    webhookUrl: `${base}/invalidate`,
    dashboardUrl: `${base}/dashboard/{partition}`,
    received,
    failNext: (n, type) => (failures = { n, type }),
    ignoreInvalidations: (on) => (ignore = on),
    refusePause: (on) => (refuse = on),
    async value(d) {
      const res = await fetch(`${base}/dashboard/${d}`);
      if (!res.ok) throw new Error(`dashboard ${d}: HTTP ${res.status} ${await res.text()}`);
      return ((await res.json()) as { value: number | null }).value;
    },
    cachedDays: () => [...cache.keys()].sort(),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
