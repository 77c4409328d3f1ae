// An ingest's progress events: the progress bar (cli/progress.ts) and the console's live picture
// (server/sse.ts) count `task.finished` against run.started's tasks, as for run and backfill. Every
// task of an ingest starts and finishes — `computed` with the rows it staged, before the publish —
// and a validation failure finishes the partitions it names as `failed`.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateOrdersCsv } from '../../src/example/shop.js';
import type { TidemarkEvent } from '../../src/events.js';
import { ingest } from '../../src/execute/ingest.js';
import { cleanup, scaffoldShop, testEngines, withWorkspace, type TestEngine } from '../helpers/project.js';

const DAYS = ['2026-03-01', '2026-03-02', '2026-03-03'];

/** Runs `ingest` in this process, recording every event it emits (and its error, if it fails). */
async function ingestWithEvents(dir: string, files: string[]): Promise<{ events: TidemarkEvent[]; error?: unknown }> {
  return withWorkspace(dir, async (ws) => {
    const events: TidemarkEvent[] = [];
    const off = ws.events.on((e) => events.push(e));
    try {
      await ingest(ws, 'orders', files, { reason: 'test' });
      return { events };
    } catch (error) {
      return { events, error };
    } finally {
      off();
    }
  });
}

const ofType = <T extends TidemarkEvent['type']>(events: TidemarkEvent[], type: T) => events.filter((e): e is Extract<TidemarkEvent, { type: T }> => e.type === type);

describe.each(testEngines(inject('pgUrl')))('ingest progress events ($kind)', (engine: TestEngine) => {
  let dir: string;
  beforeAll(async () => {
    dir = await scaffoldShop(DAYS[0], DAYS[DAYS.length - 1], { engine });
    mkdirSync(path.join(dir, 'in'));
  }, 300_000);
  afterAll(() => cleanup(dir));

  it('every task starts and finishes computed, with its rows, before the publish', async () => {
    const files = DAYS.map((d) => path.join(dir, 'data', 'orders', `orders-${d}.csv`));
    const { events, error } = await ingestWithEvents(dir, files);
    expect(error).toBeUndefined();
    const [started] = ofType(events, 'run.started');
    expect(started.tasks).toBe(DAYS.length);
    expect(ofType(events, 'task.started').map((e) => e.partition)).toEqual(DAYS);
    const finished = ofType(events, 'task.finished');
    expect(finished.map((e) => [e.partition, e.status, e.rows])).toEqual(DAYS.map((d) => [d, 'computed', generateOrdersCsv(d).trimEnd().split('\n').length - 1]));
    // Done reaches total before the publish starts, and the run publishes what finished.
    const publishing = events.findIndex((e) => e.type === 'run.publishing');
    expect(publishing).toBeGreaterThan(events.lastIndexOf(finished[finished.length - 1]));
    expect(ofType(events, 'run.published')[0].published).toBe(DAYS.length);
  });

  it('a validation failure finishes the partitions it names as failed', async () => {
    // A key repeated within a new day: that partition fails validation; nothing publishes.
    const lines = generateOrdersCsv('2026-03-04').trimEnd().split('\n');
    const file = path.join(dir, 'in', 'dup-2026-03-04.csv');
    writeFileSync(file, [...lines, lines[1]].join('\n'));
    const { events, error } = await ingestWithEvents(dir, [file]);
    expect(error).toMatchObject({ code: 'VALIDATION' });
    expect(ofType(events, 'task.finished').map((e) => [e.partition, e.status])).toEqual([['2026-03-04', 'failed']]);
    expect(ofType(events, 'run.failed')).toHaveLength(1);
    expect(ofType(events, 'run.publishing')).toHaveLength(0);
  });
});
