/**
 * A file system refusal (permissions, a read-only mount, a full disk) as one line that names the path
 * and what to check, instead of Node's `EACCES: permission denied, open '…'` with no way forward.
 * Exit 1 (UNAVAILABLE): the command and the project are fine, the machine is not; nothing was changed.
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

export type FileAction = 'read' | 'write' | 'create';

/** What a failed `action` on `target` means, or null for an error that is not the environment's. */
export function fileSystemError(error: unknown, target: string, action: FileAction, purpose: string): TidemarkError | null {
  const code = (error as NodeJS.ErrnoException | undefined)?.code ?? '';
  const hint = HINTS[code];
  if (!hint) return null;
  const what = code === 'EACCES' || code === 'EPERM' ? `permission denied for user ${processUser()}` : WHAT[code];
  return new TidemarkError('UNAVAILABLE', `cannot ${action} ${target} (${purpose}): ${what}`, { hint: hint(nearestExisting(target)), errno: code }, { cause: error });
}

/** `target`, or its closest existing ancestor: the one whose owner and mode are worth looking at. */
function nearestExisting(target: string): string {
  let at = path.resolve(target);
  while (!existsSync(at) && path.dirname(at) !== at) at = path.dirname(at);
  return at;
}

const notPermitted = (at: string) => `check the owner and mode (ls -ld ${at}), or run as the user who owns the project`;

const WHAT: Record<string, string> = {
  EROFS: 'the file system is read-only',
  ENOSPC: 'no space left on the device',
  EDQUOT: 'disk quota exceeded',
};

const HINTS: Record<string, (at: string) => string> = {
  EACCES: notPermitted,
  EPERM: notPermitted,
  EROFS: () => 'remount it read-write or move the project to a writable disk',
  ENOSPC: () => 'free some disk space (df -h), then run the command again',
  EDQUOT: () => 'free some space under your quota, then run the command again',
};
