/**
 * A failed ingest resumes only when the same files come back with the same content: its run key
 * hashes them. Once a file it failed on has been corrected, re-issuing the command starts another
 * run (or finds the corrected file already loaded and has nothing to do), and the failed attempt can
 * never resume, yet `status` would go on listing it under "Failed runs (re-issue the command to
 * resume)" until someone cancels it. So an ingest that succeeds dismisses the failed attempts of the
 * same source in which every file is one it has just read with other content: the attempt becomes
 * `cancelled`, its error says what superseded it, and `gc` drops its staging like any cancelled
 * run's. An ingest that publishes does this in its publish transaction; one with nothing to do, in
 * a transaction of its own.
 */
import type { Db, Engine } from '../engines/engine.js';
import { listFailedRuns, recordRunCancelled } from '../state/runs.js';

/** A file as this ingest read it: its manifest name and the hash of its bytes. */
export interface SeenFile {
  name: string;
  sha256: string;
}

/** In `tx`: dismisses the failed ingests of `source` that the files `seen` superseded; returns their run ids. */
export async function dismissSupersededIngests(tx: Db, engine: Engine, source: string, seen: SeenFile[]): Promise<string[]> {
  const failed = await listFailedRuns<{ dataset?: string; files?: [string, string][] }>(tx, engine, 'ingest');
  const now = new Map(seen.map((f) => [f.name, f.sha256]));
  const dismissed: string[] = [];
  for (const run of failed) {
    const files = run.request?.files ?? [];
    if (run.request?.dataset !== source || !files.length) continue;
    if (!files.every(([name, sha]) => now.has(name) && now.get(name) !== sha)) continue;
    const names = files.map(([name]) => name).join(', ');
    await recordRunCancelled(tx, engine, run.run_id, `superseded: ${names} changed since this attempt and ${files.length === 1 ? 'was' : 'were'} ingested again (it failed with: ${run.error ?? 'unknown error'})`);
    dismissed.push(run.run_id);
  }
  return dismissed;
}
