/**
 * Why DuckDB could not open the project's file, as one line with a way forward. The driver's message
 * names the cause (permissions, a damaged or foreign file, a newer storage format); the hint says
 * what to do about it. Exit 1: nothing was changed, the file was not touched.
 */
import { TidemarkError } from '../../errors.js';
import { processUser } from '../../io/fs-errors.js';

interface Diagnosis {
  pattern: RegExp;
  why: string;
  hint: (file: string) => string;
}

const DIAGNOSES: Diagnosis[] = [
  {
    pattern: /Permission denied|Operation not permitted/i,
    why: `permission denied for user ${processUser()}`,
    hint: (file) => `Tidemark opens the database read-write: ${file} and its folder must be writable (check with ls -l), or run as the user who owns the project`,
  },
  {
    pattern: /Read-only file system/i,
    why: 'the file system is read-only',
    hint: () => 'remount it read-write or copy the project to a writable disk',
  },
  {
    pattern: /No space left on device|Disk quota exceeded/i,
    why: 'no space left on the device',
    hint: () => 'free some disk space (df -h), then run the command again',
  },
  {
    // Written by a newer DuckDB (a newer Tidemark), or by one too old to be read any more.
    pattern: /version number|newer version|storage version|serialized with/i,
    why: 'it was written by an incompatible DuckDB version',
    hint: () => 'open it with the Tidemark version that wrote it (upgrade tidemark if it is newer); Tidemark never converts the file down',
  },
  {
    pattern: /not a valid DuckDB database file|Could not read enough bytes|checksum|Corrupt|INTERNAL Error/i,
    why: 'the file is damaged or is not a DuckDB database',
    hint: (file) => `restore ${file} from a backup; if it holds nothing you need, move it aside (Tidemark never overwrites it) and ingest and run again to rebuild`,
  },
];

export function openFailure(file: string, error: unknown): TidemarkError {
  const message = error instanceof Error ? error.message : String(error);
  const first = message.split('\n')[0];
  const known = DIAGNOSES.find((d) => d.pattern.test(message));
  if (!known) return new TidemarkError('INTERNAL', `cannot open DuckDB file ${file}: ${first}`, {}, { cause: error });
  return new TidemarkError('UNAVAILABLE', `cannot open DuckDB file ${file}: ${known.why}`, { hint: known.hint(file), engineMessage: first }, { cause: error });
}

/**
 * A write the machine refused (a full disk, a file size limit, a volume gone read-only) is not an SQL
 * error of the user's (exit 2) but a failure of the environment (exit 1). DuckDB fails the statement
 * or the commit, which is then not applied: re-issuing the command once the disk has room resumes.
 */
const STORAGE: { pattern: RegExp; why: string; hint: string }[] = [
  { pattern: /No space left on device|File too large|Disk quota exceeded/i, why: 'the disk is full (or a file size limit was reached)', hint: 'free disk space (df -h), then re-issue the same command: the failed transaction was not committed, and a run resumes' },
  { pattern: /Read-only file system/i, why: 'the file system became read-only', hint: 'remount it read-write, then re-issue the same command: the failed transaction was not committed' },
];

export function storageFailure(message: string): TidemarkError | null {
  if (!/IO Error|Could not write|Failed to commit|Could not (?:open|truncate|sync)/i.test(message)) return null;
  const known = STORAGE.find((s) => s.pattern.test(message));
  if (!known) return null;
  return new TidemarkError('UNAVAILABLE', `could not write the database: ${known.why}`, { hint: known.hint, engineMessage: message.split('\n')[0] });
}
