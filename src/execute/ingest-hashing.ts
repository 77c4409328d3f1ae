/**
 * The files an ingest is given, each measured (size, modification time) and its SHA-256 computed in
 * the background from the moment they are listed, one file after another: the hash of a large file
 * is the longest step of planning a first load (~50 ms for 60 MB), so it starts before the config and
 * state checks and runs while the engine reads the files' shapes and partitions in its own threads.
 *
 * Each file is measured before it is hashed: a file rewritten in between then has a newer
 * modification time than the one recorded, and publish refuses it (ingest.ts assertUnchanged), where
 * the other order could record the old time with a hash of the new bytes.
 */
import { createHash } from 'node:crypto';
import { statSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import path from 'node:path';
import { TidemarkError } from '../errors.js';

export interface ListedFile {
  /** As given on the command line. */
  given: string;
  absolute: string;
  /** Size and modification time, or why the file cannot be read (thrown where the file's turn comes). */
  stat: { bytes: number; mtimeMs: number } | { error: TidemarkError };
  /** The SHA-256 of its bytes (hex); only for a readable file. */
  sha256?: Promise<string>;
}

/** Lists `files` and starts hashing them; `stop()` ends the hashing early (planning failed). */
export function listAndHash(files: string[]): { listed: ListedFile[]; stop(): void } {
  let stopped = false;
  let previous: Promise<unknown> = Promise.resolve();
  const byPath = new Map<string, Promise<string>>();
  const listed = files.map((given): ListedFile => {
    const absolute = path.resolve(given);
    const stat = measure(given, absolute);
    if ('error' in stat) return { given, absolute, stat };
    let sha256 = byPath.get(absolute);
    if (!sha256) {
      // One file at a time: a failure of one does not stop the next.
      sha256 = previous.catch(() => undefined).then(() => sha256File(absolute, () => stopped));
      // Awaited by the planner; until then a failure must not count as an unhandled rejection.
      sha256.catch(() => undefined);
      byPath.set(absolute, sha256);
      previous = sha256;
    }
    return { given, absolute, stat, sha256 };
  });
  return { listed, stop: () => void (stopped = true) };
}

function measure(given: string, absolute: string): ListedFile['stat'] {
  let st: Stats;
  try {
    st = statSync(absolute);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    // A shell passes a pattern that matches nothing on unchanged (bash without nullglob): say so.
    if (missing && /[*?[]/.test(given)) {
      return { error: new TidemarkError('BAD_INPUT', `no file matches ${given}`, { hint: `check the folder and the pattern (ls ${path.dirname(given)}); nothing was loaded` }) };
    }
    return { error: new TidemarkError('BAD_INPUT', `cannot read ${given}: ${missing ? 'no such file' : (error as Error).message}`, { hint: missing ? `${missingFileHint(given)}; nothing was loaded` : undefined }) };
  }
  if (st.isDirectory()) {
    return { error: new TidemarkError('BAD_INPUT', `${given} is a folder, not a file`, { hint: `pass the files in it: tidemark ingest SOURCE ${path.join(given, '*.csv')}` }) };
  }
  if (!st.isFile()) return { error: new TidemarkError('BAD_INPUT', `cannot read ${given}: not a regular file`) };
  return { bytes: st.size, mtimeMs: st.mtimeMs };
}

/**
 * A missing file's hint. A relative path is read from the current folder, not from the project's:
 * `tidemark --project shop ingest orders data/orders/x.csv` run beside `shop/` finds nothing.
 */
export function missingFileHint(given: string): string {
  if (path.isAbsolute(given)) return `check the path (ls ${path.dirname(given)})`;
  return `check the path: a relative path is read from the current folder (${process.cwd()}), not from the project's`;
}

/** Read size: larger reads gain nothing once each read overlaps the hashing of the previous one. */
const CHUNK = 1 << 20;

/**
 * Two buffers in turn: the next read (in libuv's threads) runs while the main thread hashes the
 * chunk just read, so a 60 MB file takes the hashing time alone (~45 ms here, against ~56 ms when
 * reads and hashing alternate, ~60 ms with a read stream's fresh chunks).
 */
async function sha256File(file: string, stopped: () => boolean): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(file);
  const buffers = [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)];
  let turn = 0;
  let position = 0;
  let reading = handle.read(buffers[turn], 0, CHUNK, position);
  try {
    for (;;) {
      const { bytesRead } = await reading;
      if (!bytesRead) break;
      if (stopped()) throw new Error('hashing stopped');
      position += bytesRead;
      const chunk = buffers[turn].subarray(0, bytesRead);
      turn ^= 1;
      reading = handle.read(buffers[turn], 0, CHUNK, position);
      hash.update(chunk);
    }
  } finally {
    // A read still in flight (after an error) must end before the file is closed.
    await reading.catch(() => undefined);
    await handle.close();
  }
  return hash.digest('hex');
}
