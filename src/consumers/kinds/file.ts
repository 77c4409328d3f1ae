/**
 * file: a ready-marker JSON file that downstream jobs poll. It describes the current published state
 * of the datasets the consumer follows (dataset → partition → version, with the publish sequence),
 * so it is correct whichever event wrote it last. Written to a temp file and renamed: a reader never
 * sees a half-written marker.
 */
import { mkdirSync } from 'node:fs';
import { writeFileAtomically } from '../../io/atomic-write.js';
import path from 'node:path';
import type { ConsumerConfig } from '../../config/schema.js';
import { currentPublishSeq } from '../../state/meta.js';
import { loadPartitions } from '../../state/partitions.js';
import type { Workspace } from '../../workspace.js';

type FileConfig = Extract<ConsumerConfig, { kind: 'file' }>;

export interface ReadyMarker {
  project: string;
  publish_seq: number;
  updated_at: string;
  event: { event_id: unknown; type: unknown; run_id: unknown; publish_seq: unknown };
  datasets: Record<string, { latest: string | null; partitions: Record<string, { version: number; publish_seq: number }> }>;
}

export async function writeReadyMarker(c: FileConfig, ws: Workspace, datasets: string[], body: Record<string, unknown>): Promise<string> {
  const { engine } = ws;
  const marker: ReadyMarker = {
    project: ws.project.name,
    publish_seq: await currentPublishSeq(engine, engine),
    updated_at: new Date().toISOString(),
    event: { event_id: body.event_id, type: body.type, run_id: body.run_id, publish_seq: body.publish_seq },
    datasets: {},
  };
  for (const name of datasets) {
    const records = (await loadPartitions(engine, engine, name)).get(name) ?? new Map();
    const keys = [...records.keys()].sort();
    marker.datasets[name] = {
      latest: keys[keys.length - 1] ?? null,
      partitions: Object.fromEntries(keys.map((k) => [k, { version: records.get(k)!.version, publish_seq: records.get(k)!.publish_seq }])),
    };
  }
  const target = path.resolve(ws.project.dir, c.path);
  mkdirSync(path.dirname(target), { recursive: true });
  writeFileAtomically(target, `${JSON.stringify(marker, null, 2)}\n`);
  return target;
}
