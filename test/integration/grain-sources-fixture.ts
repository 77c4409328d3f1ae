/**
 * Small source-only projects at every grain, for the tests of what is keyed by partition windows
 * (ingest checksums, restore and gc of history): `orders` by day (DATE), `clicks` by hour
 * (TIMESTAMP), `bills` by month (DATE). Files go in data/; projects are removed by `removeAll`.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { cleanup, tempDir } from '../helpers/project.js';

export const GRAIN_SOURCES_YAML = `name: grain_sources
datasets:
  orders:
    kind: source
    partition: { column: order_date, grain: day }
    key: [order_id]
    schema: { current: { order_id: BIGINT, amount: BIGINT, order_date: DATE } }
  clicks:
    kind: source
    partition: { column: at, grain: hour }
    key: [click_id]
    schema: { current: { click_id: BIGINT, page: VARCHAR, at: TIMESTAMP } }
  bills:
    kind: source
    partition: { column: billed_on, grain: month }
    key: [bill_id]
    schema: { current: { bill_id: BIGINT, cents: BIGINT, billed_on: DATE } }
`;

export const csv = (header: string, rows: string[]): string => `${header}\n${rows.join('\n')}\n`;

/** Projects made by `project(files)`, each in its own temp folder; `removeAll()` from afterAll. */
export function grainSourceProjects(prefix: string): { project(files: Record<string, string>): string; removeAll(): void } {
  const dirs: string[] = [];
  return {
    project(files) {
      const dir = tempDir(prefix);
      dirs.push(dir);
      mkdirSync(path.join(dir, 'data'), { recursive: true });
      writeFileSync(path.join(dir, 'tidemark.yaml'), GRAIN_SOURCES_YAML);
      for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, 'data', name), text);
      return dir;
    },
    removeAll: () => cleanup(...dirs),
  };
}
