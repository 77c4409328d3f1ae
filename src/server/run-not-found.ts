/**
 * The answer for a run named in a route's path that does not exist: 404, in the `{ error, code, hint }`
 * shape of every other API error. (A run named in a request body is bad input, a 400, like the CLI's
 * exit 2; the app's onError answers those.) Shared by GET /api/runs/:id, its diff and its cancel, so
 * the three say the same thing.
 */
import type { Context } from 'hono';

export function runNotFound(c: Context, runId: string): Response {
  return c.json({ error: `no run '${runId}'`, code: 'NOT_FOUND', hint: 'list runs with `tidemark runs`' }, 404);
}
