/**
 * How a command opens the project's DuckDB file: read-write, read-only, or not at all. Decided from
 * what the command will do and whether this user may write the file, before anything is opened.
 *
 * "May write" is asked of the operating system (access(2) W_OK) for the file, its folder (DuckDB
 * creates FILE.wal there at the first commit) and a write-ahead log already there. For root it is true
 * on any file of a writable mount, however it is chmod'ed; `--read-only` (OpenOptions.readOnly) asks
 * for the same read-only open explicitly, for an archive root must not change, and in tests.
 *
 * A read command opens an existing file read-only even where it could write it (`mayWrite`): DuckDB
 * then admits several readers at once (`status` while `audit verify` runs), and enforces that a read
 * writes nothing. Where a read has to write the store first, as every command always could (a file
 * with no state store yet, a store of an older Tidemark to upgrade), the workspace opens it again
 * read-write (workspace.ts); a file that does not exist yet is opened read-write to be created.
 *
 * PostgreSQL: the server's grants decide, so nothing is asked here; only the explicit `--read-only`
 * refuses a write command, so that the flag means the same on both engines.
 */
import { accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import type { Project } from './config/project.js';
import { TidemarkError } from './errors.js';
import { PERMISSION_DENIED, processUser, READ_ONLY_FILE_SYSTEM } from './io/fs-errors.js';

/**
 * - 'read': the command only reads (core/mutations.ts lists it `read-only`): an existing file is
 *   opened read-only, and one this user may not write is read as it is.
 * - 'write': the command writes: such a file is refused before it is opened, naming the path.
 * - 'auto': read-write where the file can be written, else read-only (any write is then refused by
 *   DuckDB, with nothing written): the library's default, for callers that did not say.
 */
export type Access = 'read' | 'write' | 'auto';

export interface DuckDbAccess {
  /** The database file (absolute); '' on PostgreSQL. */
  file: string;
  readOnly: boolean;
  /** This user may write the file: read-only was chosen for a read, not forced by the file or the flag. */
  mayWrite: boolean;
  /** Why it is read-only, for messages: `open read-only (--read-only)`, `read-only for user nobody`. */
  why: string;
}

export function chooseDuckDbAccess(project: Project, access: Access, forced: boolean): DuckDbAccess {
  if (project.engine.kind !== 'duckdb') {
    if (forced && access === 'write') throw writeRefusal(`the project's database is opened read-only (--read-only)`, 'drop --read-only to run it');
    return { file: '', readOnly: false, mayWrite: true, why: '' };
  }
  const file = path.resolve(project.engine.path);
  if (forced) {
    const why = 'opened read-only (--read-only)';
    if (access === 'write') throw writeRefusal(`the project's DuckDB file ${file} is ${why}`, 'drop --read-only to run it');
    return { file, readOnly: true, mayWrite: false, why };
  }
  const denied = writeDenied(file);
  if (!denied) return { file, readOnly: access === 'read' && existsSync(file), mayWrite: true, why: 'opened read-only for a read command' };
  if (access === 'write') {
    throw writeRefusal(`the project's DuckDB file ${file} is ${denied.why}`, `run write commands as a user who may write ${denied.at} (ls -ld ${denied.at}), or on a writable copy of the project; read commands (status, query, audit verify, …) work on it as it is`, denied.errno);
  }
  return { file, readOnly: true, mayWrite: false, why: denied.why };
}

/** A write command refused before the project was opened: exit 1, nothing was done. */
export function writeRefusal(what: string, hint: string, errno?: string): TidemarkError {
  return new TidemarkError('UNAVAILABLE', `${what}, and this command writes it; nothing was done`, { hint, ...(errno ? { errno } : {}) });
}

interface Denied {
  /** The path this user may not write. */
  at: string;
  why: string;
  errno: string;
}

/**
 * Why this user may not write the database, or null when it may (or the file does not exist yet:
 * opening it then creates it, and a folder that refuses that fails as it always has, naming the cause).
 */
function writeDenied(file: string): Denied | null {
  if (!existsSync(file)) return null;
  const wal = `${file}.wal`;
  const folder = path.dirname(file);
  for (const [at, what] of [[file, ''], [folder, ` (its folder ${folder}, where DuckDB writes its log)`], [wal, ` (its write-ahead log ${wal})`]] as const) {
    if (at === wal && !existsSync(wal)) continue;
    try {
      accessSync(at, constants.W_OK);
    } catch (error) {
      const errno = (error as NodeJS.ErrnoException).code ?? '';
      if (READ_ONLY_FILE_SYSTEM.codes.includes(errno)) return { at, why: `on a read-only file system${what}`, errno };
      if (PERMISSION_DENIED.codes.includes(errno)) return { at, why: `read-only for user ${processUser()}${what}`, errno };
      throw error;
    }
  }
  return null;
}
