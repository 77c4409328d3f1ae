/**
 * DNS rebinding defence for `tidemark serve`. A web page on evil.example can make the browser resolve
 * that name to 127.0.0.1 and then read the local API as "its own" origin: the browser sends
 * `Host: evil.example:PORT`. So every request must name this server by an address it answers on —
 * 127.0.0.1, localhost or [::1] with its port, or the address the user bound with --host (for a
 * wildcard bind, the machine's own interface addresses). A mutating request that carries an `Origin`
 * must moreover come from this very origin (a page of the console), not from another site.
 */
import { networkInterfaces } from 'node:os';
import type { MiddlewareHandler } from 'hono';

const LOOPBACK_NAMES = ['127.0.0.1', 'localhost', '[::1]'];
const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/** `::1` → `[::1]`: how an IPv6 address appears in a Host header. */
export function hostPart(address: string): string {
  return address.includes(':') && !address.startsWith('[') ? `[${address}]` : address;
}

/** True when binding `host` makes the API reachable from other machines. */
export function bindsBeyondLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return !(h === 'localhost' || h === '::1' || /^127\./.test(h));
}

/** Every `name:port` a legitimate request may carry in its Host header. */
function allowedHosts(boundHost: string, port: number): Set<string> {
  const names = new Set(LOOPBACK_NAMES);
  const bound = boundHost.toLowerCase();
  names.add(hostPart(bound));
  if (WILDCARDS.has(bound)) {
    // Bound to every interface: the user reaches it by one of the machine's addresses.
    for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) names.add(hostPart(a.address.toLowerCase()));
  }
  const allowed = new Set<string>();
  for (const name of names) {
    allowed.add(`${name}:${port}`);
    if (port === 80) allowed.add(name); // a browser leaves the default port out
  }
  return allowed;
}

/**
 * The middleware. `port` is read per request: the app is built before the server listens, and with
 * `--port 0` the port is known only then.
 */
export function hostCheck(boundHost: string, port: () => number): MiddlewareHandler {
  let cached: { port: number; hosts: Set<string> } | null = null;
  const hosts = () => {
    if (!cached || cached.port !== port()) cached = { port: port(), hosts: allowedHosts(boundHost, port()) };
    return cached.hosts;
  };
  return async (c, next) => {
    const host = (c.req.header('host') ?? '').toLowerCase();
    if (!hosts().has(host)) {
      return c.json(
        {
          error: `refused: this server does not answer for Host '${host || '(none)'}'`,
          code: 'HOST',
          hint: `open the console at http://127.0.0.1:${port()}/ (or localhost); other names are refused to block DNS rebinding`,
        },
        421,
      );
    }
    const origin = c.req.header('origin');
    if (origin !== undefined && c.req.method !== 'GET' && c.req.method !== 'HEAD' && origin.toLowerCase() !== `http://${host}`) {
      return c.json({ error: `refused: a request from origin '${origin}' may not change this project`, code: 'ORIGIN', hint: 'mutating requests come from the console itself or the CLI' }, 403);
    }
    return next();
  };
}
