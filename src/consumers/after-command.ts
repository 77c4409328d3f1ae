/**
 * In-process notification after a CLI command that wrote: once its run published (or failed), the
 * command delivers pending outbox events before it exits, within a bounded time. Whatever is not
 * acknowledged by then stays pending for the next dispatch. Delivery problems never change the
 * command's own outcome: the publish already committed; they are reported on stderr.
 */
import { coerceError } from '../errors.js';
import type { Workspace } from '../workspace.js';
import { dispatch } from './dispatcher.js';

export async function deliverAfter<T>(ws: Workspace, fn: () => Promise<T>): Promise<T> {
  let wrote = false;
  const off = ws.events.on((e) => {
    if (e.type === 'run.started' || e.type === 'run.published' || e.type === 'run.failed') wrote = true;
  });
  try {
    return await fn();
  } finally {
    off();
    if (wrote) await deliverPendingQuietly(ws);
  }
}

async function deliverPendingQuietly(ws: Workspace): Promise<void> {
  try {
    const report = await dispatch(ws);
    if (report.pending || report.dead) {
      process.stderr.write(
        `warning: consumers: ${report.pending} delivery(ies) pending, ${report.dead} dead-lettered; see \`tidemark consumers status\`, retry with \`tidemark consumers redeliver\`\n`,
      );
    }
  } catch (error) {
    process.stderr.write(`warning: consumers: delivery interrupted: ${ws.redact(coerceError(error).message)}; \`tidemark consumers redeliver\` retries\n`);
  }
}
