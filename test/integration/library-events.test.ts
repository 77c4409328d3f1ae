// `run.started` as a library listener receives it: `kind` is the run's kind, and `resumed` says
// whether the command went on with the run an earlier attempt left (true/false, as consumers'
// run.started events say it; it was 1 or 0). `run.failed` carries the error's code, so a listener
// tells a cancelled run (or one waiting for its window) from a failed one.
import { describe, expect, it } from 'vitest';
import { backfill } from '../../src/api/operations.js';
import { cancelRun } from '../../src/api/runs.js';
import { TidemarkError } from '../../src/errors.js';
import type { TidemarkEvent } from '../../src/events.js';
import { builtShop, readModel, sharedProject, withWorkspace, writeModel } from '../helpers/project.js';

const REQUEST = { dataset: 'revenue_7d', from: '2026-03-01', to: '2026-03-03' };

describe('run.started, on duckdb', () => {
  const shop = sharedProject(() => builtShop());

  it('tells a new run from a resumed one', async () => {
    const dir = shop.fresh();
    const sql = readModel(dir, 'revenue_7d');
    // One partition fails at compute time (a cast that fails only for 2026-03-02): the run is left failed.
    writeModel(dir, 'revenue_7d', sql.replace(/^ {2}currency,$/m, "  CASE WHEN {{ start }} = DATE '2026-03-02' THEN CAST(CAST(currency || 'x' AS INT) AS VARCHAR) ELSE currency END AS currency,"));
    const started: Extract<TidemarkEvent, { type: 'run.started' }>[] = [];
    const failed: Extract<TidemarkEvent, { type: 'run.failed' }>[] = [];
    const failure = await withWorkspace(dir, async (ws) => {
      ws.events.on((e) => void (e.type === 'run.started' && started.push(e)));
      ws.events.on((e) => void (e.type === 'run.failed' && failed.push(e)));
      return backfill(ws, REQUEST, { reason: 'first attempt' }).catch((error: unknown) => error);
    });
    expect(failure).toBeInstanceOf(TidemarkError);
    expect(failed.map((e) => e.code)).toEqual([(failure as TidemarkError).code]);
    writeModel(dir, 'revenue_7d', sql);
    const result = await withWorkspace(dir, async (ws) => {
      ws.events.on((e) => void (e.type === 'run.started' && started.push(e)));
      return backfill(ws, REQUEST, { reason: 'second attempt' });
    });
    expect(result.status).toBe('published');
    expect(started.map(({ run_id, kind, resumed }) => ({ run_id, kind, resumed }))).toEqual([
      { run_id: result.run_id, kind: 'backfill', resumed: false },
      { run_id: result.run_id, kind: 'backfill', resumed: true },
    ]);
  });

  it('tells a cancelled run from a failed one', async () => {
    const dir = shop.fresh();
    const failed: Extract<TidemarkEvent, { type: 'run.failed' }>[] = [];
    const error = await withWorkspace(dir, async (ws) => {
      // Cancelled as soon as it starts: it stops before its next task.
      ws.events.on((e) => (e.type === 'run.started' ? cancelRun(ws, e.run_id).then(() => undefined) : undefined));
      ws.events.on((e) => void (e.type === 'run.failed' && failed.push(e)));
      return backfill(ws, { ...REQUEST, dataset: 'daily_revenue' }, { reason: 'cancelled at once' }).catch((e: unknown) => e);
    });
    expect(error).toMatchObject({ code: 'CANCELLED' });
    expect(failed.map((e) => e.code)).toEqual(['CANCELLED']);
  });
});
