/**
 * A file system refusal (permissions, a read-only mount, a full disk) as one line that names the path
 * and what to check, instead of Node's `EACCES: permission denied, open '…'` with no way forward.
 * Exit 1 (UNAVAILABLE): the command and the project are fine, the machine is not; nothing was changed.
 *
 * The causes are said the same way whoever met them: Node (files Tidemark opens itself, by errno) or
 * DuckDB's driver (the database file, by the text of its message: engines/duckdb/open-errors.ts).
 */
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { TidemarkError } from '../errors.js';

/** The user this process runs as, for "permission denied for user X". */
export function processUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

export interface EnvironmentCause {
  /** Node's errno codes for it. */
  codes: string[];
  /** How DuckDB's driver says it (the operating system's strerror text). */
  pattern: RegExp;
  /** What is wrong, after the path: `cannot read X: <why>`. */
  why(): string;
  /** The way forward; `at` is the path worth looking at (the closest one that exists). */
  hint(at: string): string;
}

const notPermitted = (at: string) => `check the owner and mode (ls -ld ${at}), or run as the user who owns the project`;

export const PERMISSION_DENIED: EnvironmentCause = {
  codes: ['EACCES', 'EPERM'],
  pattern: /Permission denied|Operation not permitted/i,
  why: () => `permission denied for user ${processUser()}`,
  hint: notPermitted,
};

export const READ_ONLY_FILE_SYSTEM: EnvironmentCause = {
  codes: ['EROFS'],
  pattern: /Read-only file system/i,
  why: () => 'the file system is read-only',
  hint: () => 'remount it read-write or move the project to a writable disk',
};

const CAUSES: EnvironmentCause[] = [
  PERMISSION_DENIED,
  READ_ONLY_FILE_SYSTEM,
  {
    codes: ['ENOSPC'],
    pattern: /No space left on device/i,
    why: () => 'no space left on the device',
    hint: () => 'free some disk space (df -h), then run the command again',
  },
  {
    codes: ['EDQUOT'],
    pattern: /Disk quota exceeded/i,
    why: () => 'disk quota exceeded',
    hint: () => 'free some space under your quota, then run the command again',
  },
];

/** The cause behind Node's errno `code`, if it is the machine's. */
function causeOfErrno(code: string | undefined): EnvironmentCause | undefined {
  return code ? CAUSES.find((c) => c.codes.includes(code)) : undefined;
}

/** The cause a driver's message names, if it is the machine's. */
export function causeOfMessage(message: string): EnvironmentCause | undefined {
  return CAUSES.find((c) => c.pattern.test(message));
}

export type FileAction = 'read' | 'write' | 'create';

/** What a failed `action` on `target` means, or null for an error that is not the environment's. */
export function fileSystemError(error: unknown, target: string, action: FileAction, purpose: string): TidemarkError | null {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const cause = causeOfErrno(code);
  if (!cause) return null;
  return new TidemarkError('UNAVAILABLE', `cannot ${action} ${target} (${purpose}): ${cause.why()}`, { hint: cause.hint(nearestExisting(target)), errno: code }, { cause: error });
}

/** `target`, or its closest existing ancestor: the one whose owner and mode are worth looking at. */
export function nearestExisting(target: string): string {
  let at = path.resolve(target);
  while (!existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  return at;
}
