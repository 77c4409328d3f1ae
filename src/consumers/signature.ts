/**
 * Webhook signatures: `X-Tidemark-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, the scheme
 * GitHub and Stripe use, so a receiver can check the request came from Tidemark and was not altered.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'X-Tidemark-Signature';

export function sign(body: string, secret: string): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

/** For receivers (and tests): constant-time comparison of a header against the body. */
export function verifySignature(body: string, secret: string, header: string | undefined | null): boolean {
  if (!header) return false;
  const expected = Buffer.from(sign(body, secret));
  const given = Buffer.from(header);
  return expected.length === given.length && timingSafeEqual(expected, given);
}
