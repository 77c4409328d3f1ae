/**
 * Read-only JSON routes of the web console. Each one is a thin wrapper over the library API the CLI
 * calls (status, listPartitions, diffRun, auditLog (a page of it), verifyAudit, lineage, consumersStatus),
 * so the console can never show something the CLI would not. Errors go through the app's onError:
 * an unknown dataset or a bad date is a 400 with the CLI's message and hint.
 */
import type { Hono } from 'hono';
import { consumersStatus } from '../api/consumers.js';
import { listPartitions, status, type PartitionRow } from '../api/operations.js';
import { auditPage, lineage, verifyAudit } from '../api/audit.js';
import { diffRun } from '../api/versions.js';
import { getDataset } from '../config/project.js';
import { listLocks } from '../state/locks.js';
import { getRun } from '../state/runs.js';
import { liveVersionNotes } from '../state/partitions.js';
import type { Workspace } from '../workspace.js';
import { runNotFound } from './run-not-found.js';
import { eventStream, type ConsoleEvents } from './sse.js';

/** A partition with who published its live version and why (from the versions table). */
export interface ConsolePartition extends PartitionRow {
  actor: string | null;
  reason: string | null;
  version_kind: string | null;
}

/** Audit records sent at most per request: the page shows the newest. */
const AUDIT_PAGE = 500;

export function registerReadRoutes(app: Hono, ws: Workspace, hub: ConsoleEvents): void {
  app.get('/api/project', async (c) => {
    const st = await status(ws);
    const datasets = st.datasets.map((d) => {
      const spec = getDataset(ws.project, d.dataset);
      return {
        ...d,
        key: spec.key,
        partition_column: spec.partitionColumn,
        upstream: spec.kind === 'model' ? spec.upstream.map((u) => ({ dataset: u.dataset, lookback: u.lookback })) : [],
        consumers: spec.consumers,
      };
    });
    return c.json({ project: st.project, engine: st.engine, datasets, active_runs: st.active_runs, failed_runs: st.failed_runs, awaiting_consumers: st.awaiting_consumers });
  });

  app.get('/api/datasets/:name/partitions', async (c) => {
    const name = c.req.param('name');
    const rows = await listPartitions(ws, name); // refuses an unknown dataset (400)
    // The live versions only: every version ever published (history) grows with the project's age.
    const live = await liveVersionNotes(ws.engine, ws.engine, name);
    const partitions: ConsolePartition[] = rows.map((r) => {
      const v = live.get(r.partition);
      return { ...r, actor: v?.actor ?? null, reason: v?.reason ?? null, version_kind: v?.kind ?? null };
    });
    const spec = getDataset(ws.project, name);
    return c.json({ dataset: name, kind: spec.kind, grain: spec.grain, partitions, locks: await listLocks(ws.engine, ws.engine, name) });
  });

  app.get('/api/runs/:id/diff', async (c) => {
    // A run named in the path: unknown is a 404, as on GET /api/runs/:id (diffRun's NOT_FOUND is the CLI's exit 2, a 400).
    if (!(await getRun(ws.engine, ws.engine, c.req.param('id')))) return runNotFound(c, c.req.param('id'));
    return c.json(await diffRun(ws, c.req.param('id'), { dataset: c.req.query('dataset') || undefined }));
  });

  app.get('/api/audit', async (c) => {
    const page = await auditPage(ws, { dataset: c.req.query('dataset') || undefined, since: c.req.query('since') || undefined, runId: c.req.query('run') || undefined }, AUDIT_PAGE);
    return c.json({ total: page.total, records: page.records.reverse() });
  });
  app.get('/api/audit/verify', async (c) => c.json(await verifyAudit(ws)));
  app.get('/api/lineage/:dataset/:partition', async (c) => c.json(await lineage(ws, c.req.param('dataset'), c.req.param('partition'))));
  app.get('/api/consumers', async (c) => c.json(await consumersStatus(ws)));

  app.get('/api/live', (c) => c.json(hub.snapshot()));
  app.get('/api/events', () => eventStream(hub));
}
