/**
 * Why DuckDB could not open the project's file, as one line with a way forward. The driver's message
 * names the cause (permissions, a damaged or foreign file, a newer storage format); the hint says
 * what to do about it. Exit 1: nothing was changed, the file was not touched. Causes of the machine's
 * (permissions, a read-only mount, a full disk) are said as for any file (io/fs-errors.ts).
 */
import { TidemarkError } from '../../errors.js';
import { causeOfMessage, nearestExisting, PERMISSION_DENIED, READ_ONLY_FILE_SYSTEM } from '../../io/fs-errors.js';

interface Diagnosis {
  pattern: RegExp;
  why: string;
  hint: (file: string) => string;
}

/** Causes that are DuckDB's own: the file's content, not the machine. */
const DIAGNOSES: Diagnosis[] = [
  {
    // A read-only open (engine.ts) cannot create the file.
    pattern: /in read-only mode: database does not exist/i,
    why: 'it does not exist, and a read-only open cannot create it',
    hint: () => 'check engine.path in tidemark.yaml; a new project is created by its first command run without --read-only, where the project folder can be written',
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
  const wal = walFailure(file, first, error);
  if (wal) return wal;
  const machine = causeOfMessage(message);
  if (machine) {
    return new TidemarkError('UNAVAILABLE', `cannot open DuckDB file ${file}: ${machine.why()}`, { hint: machine.hint(nearestExisting(file)), engineMessage: first }, { cause: error });
  }
  const known = DIAGNOSES.find((d) => d.pattern.test(message));
  if (!known) return new TidemarkError('INTERNAL', `cannot open DuckDB file ${file}: ${first}`, {}, { cause: error });
  return new TidemarkError('UNAVAILABLE', `cannot open DuckDB file ${file}: ${known.why}`, { hint: known.hint(file), engineMessage: first }, { cause: error });
}

/**
 * The write-ahead log next to the file (`FILE.wal`) holds commits a writer made but had not folded
 * into the file yet (it stopped before its checkpoint). Every open replays it, a read-only open too
 * (in memory, leaving the log as it is), so a log this user may not read stops even `status`.
 */
function walFailure(file: string, first: string, error: unknown): TidemarkError | null {
  const log = `${file}.wal`;
  if (!first.includes(log)) return null;
  const denied = PERMISSION_DENIED.pattern.test(first);
  const why = denied ? PERMISSION_DENIED.why() : (causeOfMessage(first)?.why() ?? first);
  return new TidemarkError('UNAVAILABLE', `cannot open DuckDB file ${file}: its write-ahead log ${log} cannot be read: ${why}`, {
    hint: `the log holds commits not yet folded into the file: make it readable (ls -l ${log}), or have the project's owner run any command once (it folds the log into the file); never delete it, that loses those commits`,
    engineMessage: first,
  }, { cause: error });
}

/**
 * A write the machine refused (a full disk, a file size limit, a volume gone read-only) is not an SQL
 * error of the user's (exit 2) but a failure of the environment (exit 1). DuckDB fails the statement
 * or the commit, which is then not applied: re-issuing the command once the disk has room resumes.
 */
const STORAGE: { pattern: RegExp; why: string; hint: string }[] = [
  { pattern: /No space left on device|File too large|Disk quota exceeded/i, why: 'the disk is full (or a file size limit was reached)', hint: 'free disk space (df -h), then re-issue the same command: the failed transaction was not committed' },
  { pattern: READ_ONLY_FILE_SYSTEM.pattern, why: 'the file system became read-only', hint: 'remount it read-write, then re-issue the same command: the failed transaction was not committed' },
];

export function storageFailure(message: string): TidemarkError | null {
  const readOnly = readOnlyDatabase(message);
  if (readOnly) return readOnly;
  if (!/IO Error|Could not write|Failed to commit|Could not (?:open|truncate|sync)/i.test(message)) return null;
  const known = STORAGE.find((s) => s.pattern.test(message));
  if (!known) return null;
  return new TidemarkError('UNAVAILABLE', `could not write the database: ${known.why}`, { hint: known.hint, engineMessage: message.split('\n')[0] });
}

/**
 * A write on a database opened read-only (engine.ts `readOnly`). The CLI refuses write commands before
 * they open the project (workspace.ts), so this is the last guard: for the library, and for anything
 * that would write during a read. DuckDB refused the statement; nothing was written.
 */
function readOnlyDatabase(message: string): TidemarkError | null {
  const m = /Cannot execute statement of type "(\w+)" on database "[^"]*" which is attached in read-only mode/.exec(message);
  if (!m) return null;
  return new TidemarkError('UNAVAILABLE', `cannot write the database: it is open read-only (a ${m[1]} statement was refused; nothing was written)`, {
    hint: 'write commands need the project opened read-write: drop --read-only, or run them where the DuckDB file and its folder can be written',
    engineMessage: message.split('\n')[0],
  });
}
