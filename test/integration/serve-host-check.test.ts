// DNS rebinding: a page on evil.example whose name resolves to 127.0.0.1 makes the browser send
// `Host: evil.example:PORT`. `tidemark serve` answers only requests that name it (127.0.0.1, localhost,
// [::1] with its port, or the address bound with --host), and refuses a mutating request from another
// Origin even with the token. Real HTTP requests against a real serve process (node:http, which lets a
// test set the Host header as a browser under attack would send it).
import { request } from 'node:http';
import { describe, expect, it } from 'vitest';
import { serveSuite, type ServeProcess } from '../e2e/serve-process.js';
import { cliJson } from '../helpers/project.js';

const suite = serveSuite();

async function serve(args: string[] = []): Promise<{ server: ServeProcess; port: number; dir: string }> {
  const dir = suite.fresh();
  const server = await suite.startServe(dir, { args });
  return { server, port: Number(new URL(server.url).port), dir };
}

interface RawReply {
  status: number;
  body: any;
}

/** One request to 127.0.0.1:port with exactly these headers (Host included). */
function raw(port: number, method: string, route: string, headers: Record<string, string>, body?: unknown): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request({ host: '127.0.0.1', port, method, path: route, headers: { ...headers, ...(payload ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}) } }, (res) => {
      let text = '';
      res.on('data', (b: Buffer) => (text += b.toString()));
      res.on('end', () => {
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          /* not JSON */
        }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('error', reject);
    req.end(payload);
  });
}

describe('tidemark serve: Host and Origin checks', () => {
  it('answers reads only for its own names, refuses any other Host with 421 and no data', async () => {
    const { port } = await serve();
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`]) {
      const ok = await raw(port, 'GET', '/api/audit', { host });
      expect(ok.status, host).toBe(200);
      expect(Array.isArray(ok.body.records)).toBe(true);
    }
    for (const host of [`evil.example:${port}`, 'evil.example', `localhost`, `127.0.0.1:${port + 1}`, `127.0.0.1.evil.example:${port}`]) {
      for (const route of ['/api/audit', '/api/project', '/', '/api/events']) {
        const refused = await raw(port, 'GET', route, { host });
        expect(refused.status, `${host} ${route}`).toBe(421);
        expect(refused.body.code).toBe('HOST');
        expect(refused.body.error).toMatch(/does not answer for Host/);
        expect(JSON.stringify(refused.body)).not.toMatch(/daily_revenue|records/);
      }
    }
  });

  it('refuses a mutating request from another Origin even with the token (403), and nothing changes', async () => {
    const { server, port, dir } = await serve();
    const host = `127.0.0.1:${port}`;
    const lock = { dataset: 'daily_revenue', from: '2026-03-01', to: '2026-03-02', reason: 'month-end close' };
    const auth = { host, authorization: `Bearer ${server.token}` };

    const foreign = await raw(port, 'POST', '/api/actions/lock', { ...auth, origin: 'http://evil.example' }, lock);
    expect(foreign.status).toBe(403);
    expect(foreign.body.code).toBe('ORIGIN');
    const nullOrigin = await raw(port, 'POST', '/api/actions/lock', { ...auth, origin: 'null' }, lock);
    expect(nullOrigin.status).toBe(403);
    const otherPort = await raw(port, 'POST', '/api/actions/lock', { ...auth, origin: `http://127.0.0.1:${port + 1}` }, lock);
    expect(otherPort.status).toBe(403);
    // The Host check comes first: a foreign Host is refused before the token is even looked at.
    expect((await raw(port, 'POST', '/api/actions/lock', { ...auth, host: `evil.example:${port}` }, lock)).status).toBe(421);
    expect((await raw(port, 'GET', '/api/datasets/daily_revenue/partitions', { host })).body.locks).toEqual([]);

    // The console's own pages (same origin) and the CLI (no Origin) may act.
    const same = await raw(port, 'POST', '/api/actions/lock', { ...auth, origin: `http://${host}` }, lock);
    expect(same.status).toBe(200);
    expect((await raw(port, 'POST', '/api/auth/check', auth)).status).toBe(200);
    expect((await raw(port, 'GET', '/api/datasets/daily_revenue/partitions', { host })).body.locks).toHaveLength(1);
    // A GET with a foreign Origin but our Host is a plain read (CORS keeps its answer from that page).
    expect((await raw(port, 'GET', '/api/health', { host, origin: 'http://evil.example' })).status).toBe(200);
    // CLI commands in other terminals are handed to the server and still work.
    expect(cliJson(dir, ['plan', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02']).guards.map((g: { code: string }) => g.code)).toContain('LOCKED');
  });

  it('--host 0.0.0.0 warns that the read API is reachable from the network, and still checks Host', async () => {
    const { server, port } = await serve(['--host', '0.0.0.0']);
    while (!server.log().includes('warning:')) await new Promise((r) => setTimeout(r, 50));
    expect(server.log()).toMatch(/^warning: --host 0\.0\.0\.0 makes the read API .* reachable from the network without a token/m);
    expect((await raw(port, 'GET', '/api/health', { host: `127.0.0.1:${port}` })).status).toBe(200);
    expect((await raw(port, 'GET', '/api/audit', { host: `evil.example:${port}` })).status).toBe(421);
  });

  it('does not warn on the default loopback address', async () => {
    const { server, port } = await serve();
    expect((await raw(port, 'GET', '/api/health', { host: `127.0.0.1:${port}` })).status).toBe(200);
    expect(server.log()).not.toMatch(/warning:/);
  });
});
