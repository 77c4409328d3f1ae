/**
 * "Nothing to do", remembered. A scheduled `tidemark run` usually finds every partition fresh, and
 * proving that means reading every partition's state and checking its inputs (most of a no-op run's
 * time on a large project). So when a run plan comes out empty, the project remembers the state it
 * was computed from; the next run first asks the engine for a fingerprint of that state (one
 * aggregate over the partition table) and, if it is unchanged, skips planning.
 *
 * Why this is safe: a run plan is a pure function of the project (config and model SQL: config
 * hash), this Tidemark version, the request, and the partition table (versions, checksums, input
 * fingerprints, replay marks) — locks and runs in flight only ever remove work. The fingerprint
 * covers every column planning reads, so any publish, restore, ingest or checkpoint reset changes
 * it. The marker is written only for a plan with no tasks and no guards (nothing skipped), and it
 * is a cache: a missing, stale or unreadable marker only means planning runs as usual.
 *
 * DuckDB projects only: the marker is a file beside the database, which one process holds at a
 * time. (PostgreSQL projects plan from an indexed server and are shared by many processes.)
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomically } from '../io/atomic-write.js';
import path from 'node:path';
import { STATE_DIR } from '../config/load.js';
import type { Engine } from '../engines/engine.js';
import { stateTable } from '../state/tables.js';
import { TIDEMARK_VERSION } from '../version.js';
import type { Workspace } from '../workspace.js';
import type { RunRequest } from './build.js';
import type { Plan } from './types.js';

const MARKER_FILE = 'up-to-date.json';

/** What an empty plan was computed from; null when the engine does not support the marker. */
export async function upToDateKey(ws: Workspace, request: RunRequest): Promise<string | null> {
  if (ws.project.engine.kind !== 'duckdb') return null;
  return JSON.stringify({
    tidemark: TIDEMARK_VERSION,
    config: ws.project.configHash,
    datasets: [...(request.datasets ?? [])].sort(),
    state: await partitionStateFingerprint(ws.engine),
  });
}

/** True when the last empty run plan was computed from exactly this key. */
export function isUpToDate(ws: Workspace, key: string): boolean {
  try {
    return readFileSync(markerPath(ws), 'utf8') === key;
  } catch {
    return false;
  }
}

/** Remembers `key` after a plan with nothing to do (and nothing refused or skipped). */
export function rememberIfUpToDate(ws: Workspace, key: string, plan: Plan): void {
  if (plan.tasks.length || plan.guards.length) return;
  const file = markerPath(ws);
  try {
    writeFileAtomically(file, key);
  } catch {
    /* a cache: failing to write it costs the next run its shortcut, nothing else */
  }
}

/** Row count plus a 128-bit sum of per-row hashes over every column planning reads. */
async function partitionStateFingerprint(engine: Engine): Promise<string> {
  const [row] = await engine.query<{ n: number; h: string | null }>(
    `SELECT count(*) AS n, CAST(sum(CAST(hash(dataset, partition, version, rows, checksum, inputs) AS HUGEINT)) AS VARCHAR) AS h
     FROM ${stateTable(engine, 'partitions')}`,
  );
  return `${row.n}:${row.h ?? 0}`;
}

function markerPath(ws: Workspace): string {
  return path.join(ws.project.dir, STATE_DIR, MARKER_FILE);
}
