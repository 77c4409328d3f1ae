// A project held by another process (DuckDB) is refused with LOCKED, and its details name the holder
// as data: its command, and the run it works on. The library's way to stop that run from here is
// `requestCancelByMarker(loadProject(dir), runId)`; before, the run id was only in the message text.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TidemarkError } from '../../src/errors.js';
import { openWorkspace } from '../../src/workspace.js';
import { cleanup, holdWorkspace, requireBuild, scaffoldShop } from '../helpers/project.js';

async function lockedDetails(dir: string): Promise<Record<string, unknown>> {
  try {
    const ws = await openWorkspace(dir, { actor: 'test', command: 'test' });
    await ws.close();
  } catch (error) {
    if (error instanceof TidemarkError && error.code === 'LOCKED') return error.details;
    throw error;
  }
  throw new Error('expected LOCKED, but the project opened');
}

describe('LOCKED from a library caller, on duckdb', () => {
  let dir: string;
  beforeAll(async () => {
    requireBuild();
    dir = await scaffoldShop();
    const ws = await openWorkspace(dir, { actor: 'test', command: 'test' });
    await ws.close();
  }, 120_000);
  afterAll(() => cleanup(dir));

  it('names the run the holder works on, and its command, in details', async () => {
    const holder = await holdWorkspace(dir, 'tidemark backfill daily_revenue --from 2026-03-01 --to 2026-03-07', 'r20260307_120000_abcdef');
    try {
      expect(await lockedDetails(dir)).toMatchObject({
        pid: holder.pid,
        holder_command: 'tidemark backfill daily_revenue --from 2026-03-01 --to 2026-03-07',
        holder_run_id: 'r20260307_120000_abcdef',
      });
    } finally {
      await holder.stop();
    }
  });

  it('names the command of a holder that runs nothing, and no run', async () => {
    const holder = await holdWorkspace(dir, 'my-etl nightly');
    try {
      const details = await lockedDetails(dir);
      expect(details).toMatchObject({ pid: holder.pid, holder_command: 'my-etl nightly' });
      expect(details).not.toHaveProperty('holder_run_id');
    } finally {
      await holder.stop();
    }
  });
});
