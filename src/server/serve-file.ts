/**
 * `.tidemark/serve.json`: how other CLI invocations find the running `tidemark serve` of a project —
 * its port, pid and bearer token. Written with mode 0600: the token is the key to every mutating
 * route, so only the user who started the server can read it.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { STATE_DIR } from '../config/load.js';
import { isProcessAlive } from '../io/process-alive.js';

export interface ServeInfo {
  pid: number;
  host: string;
  port: number;
  token: string;
  project: string;
  started_at: string;
}

export function serveFile(projectDir: string): string {
  return path.join(projectDir, STATE_DIR, 'serve.json');
}

export function writeServeInfo(projectDir: string, info: ServeInfo): void {
  const file = serveFile(projectDir);
  // A PostgreSQL project keeps no state on disk, so nothing has made the folder yet; 0700 because
  // it holds the token. (An existing folder keeps its mode: mkdir does not change it.)
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  rmSync(file, { force: true }); // a new file, so the mode below applies from its first byte
  writeFileSync(file, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
}

/** The running server of the project, or null (no file, unreadable, or its process is gone). */
export function readServeInfo(projectDir: string): ServeInfo | null {
  let info: ServeInfo;
  try {
    info = JSON.parse(readFileSync(serveFile(projectDir), 'utf8')) as ServeInfo;
  } catch {
    return null;
  }
  if (!info || typeof info.port !== 'number' || typeof info.token !== 'string') return null;
  if (info.pid === process.pid || !isProcessAlive(info.pid)) return null;
  return info;
}

/** Removes the file if it is this process's own. */
export function removeServeInfo(projectDir: string): void {
  try {
    const info = JSON.parse(readFileSync(serveFile(projectDir), 'utf8')) as ServeInfo;
    if (info.pid === process.pid) rmSync(serveFile(projectDir), { force: true });
  } catch {
    /* already gone */
  }
}
