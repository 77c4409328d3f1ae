/** One attempt to hand an event to a consumer, whatever its kind. Resolves on ack, throws DeliveryError otherwise. */
import type { ConsumerConfig } from '../../config/schema.js';
import type { Workspace } from '../../workspace.js';
import { runCommand } from './command.js';
import { writeReadyMarker } from './file.js';
import { runStatement } from './sql.js';
import { postEvent } from './webhook.js';

export { DeliveryError } from './delivery-error.js';

export async function deliverOnce(ws: Workspace, c: ConsumerConfig, body: Record<string, unknown>, follows: string[]): Promise<void> {
  switch (c.kind) {
    case 'webhook':
      return postEvent(c, body);
    case 'command':
      return runCommand(c, body, ws.project.dir);
    case 'sql':
      return runStatement(c, ws.engine);
    case 'file':
      await writeReadyMarker(c, ws, follows, body);
      return;
  }
}
