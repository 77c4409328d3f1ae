/**
 * webhook: POST the event as JSON, signed when a secret is set; any 2xx within the timeout is an ack.
 * A redirect is not followed: fetch turns a POST answered 301/302/303 into a GET without the body, so
 * the 2xx of the page it lands on would record as acknowledged an event the consumer never received.
 * A 3xx is a failed attempt that names where it points, so the url can be set to that address.
 */
import type { ConsumerConfig } from '../../config/schema.js';
import { sign, SIGNATURE_HEADER } from '../signature.js';
import { DeliveryError } from './delivery-error.js';

type WebhookConfig = Extract<ConsumerConfig, { kind: 'webhook' }>;

export async function postEvent(c: WebhookConfig, body: Record<string, unknown>): Promise<void> {
  const text = JSON.stringify(body);
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'user-agent': 'tidemark',
    'x-tidemark-event': String(body.type),
  };
  if (body.event_id !== undefined) headers['x-tidemark-delivery'] = String(body.event_id);
  if (c.secret) headers[SIGNATURE_HEADER.toLowerCase()] = sign(text, c.secret);
  let res: Response;
  try {
    res = await fetch(c.url, { method: 'POST', headers, body: text, redirect: 'manual', signal: AbortSignal.timeout(c.timeout_ms) });
  } catch (error) {
    throw new DeliveryError(describeFetchError(error, c.timeout_ms));
  }
  // Drain the body so the connection is released; its text helps explain a refusal.
  const reply = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ').trim();
  if (res.status >= 300 && res.status < 400) {
    const location = res.headers.get('location');
    const to = location ? new URL(location, c.url).href : null;
    throw new DeliveryError(`HTTP ${res.status}: redirected${to ? ` to ${to}` : ''}; webhooks are not followed across redirects (the event would arrive without its body): set the consumer's url to the address that takes the POST`);
  }
  if (res.status < 200 || res.status >= 300) throw new DeliveryError(`HTTP ${res.status}${reply ? `: ${reply}` : ''}`);
}

function describeFetchError(error: unknown, timeout: number): string {
  const e = error as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeout} ms`;
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(error);
}
