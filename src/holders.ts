/**
 * Who holds a project's DuckDB file, so that a process refused by it is told something true.
 *
 * DuckDB names one pid holding a conflicting lock (a writer, or one of several readers). Each Tidemark
 * process that opens the file records itself in `.tidemark/holder-PID.json` (its command, the run it
 * works on, whether it only reads) and removes that file when it closes. One file per process: readers
 * come and go in any order and none can remove or hide another's record, so the pid DuckDB names is
 * found with its command whichever reader it is. A record whose process is gone (killed) is never
 * named, and the next open sweeps it away.
 *
 * A writer that waits for the file (with `--wait`, or reopening the project after a wait for its run
 * window) records itself in `.tidemark/writer-waiting.json` (waitAsWriter, the one way in).
 * Readers that arrive meanwhile wait behind it (or, without `--wait`, are refused naming it): else a
 * steady stream of overlapping readers (a dashboard's `status`, `ready --wait` loops) could keep it
 * out forever. This is the rule of SQLite's PENDING lock and of PostgreSQL's lock queue; readers
 * already open finish as they would. The waiting writer renews its record while it waits: one whose
 * process is gone, or not renewed for a while (its pid since reused), holds nobody back; one that
 * stops waiting removes it, also when Ctrl-C ends it.
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomically } from './io/atomic-write.js';
import { isProcessAlive } from './io/process-alive.js';

export interface Holder {
  pid: number;
  command: string;
  /** The DuckDB file it holds (a record copied with its folder is another file's). */
  file?: string;
  run_id?: string;
  /** Inside `tidemark serve`: the command it runs that run for. */
  serving?: string;
  started_at: string;
  /** Opened read-only: one of possibly several readers. */
  read_only?: boolean;
  /** writer-waiting.json: when the writer last said it still waits (a record not renewed is ignored). */
  seen_at?: string;
}

const RECORD = /^holder-(\d+)\.json$/;
/** Written by Tidemark before one record per process: read for a holder of that version, swept when dead. */
const LEGACY = 'holder.json';
const WAITING = 'writer-waiting.json';
/** A waiting writer renews its record this often; one older than STALE_MS is ignored (a reused pid). */
const RENEW_MS = 2_000;
const STALE_MS = 15_000;

function holderRecordFile(stateDir: string, pid = process.pid): string {
  return path.join(stateDir, `holder-${pid}.json`);
}

/** Records this process as a holder (throws when the state folder cannot be written). */
export function recordHolder(stateDir: string, holder: Holder): void {
  writeFileAtomically(holderRecordFile(stateDir, holder.pid), JSON.stringify(holder));
}

export function removeHolderRecord(stateDir: string): void {
  rmSync(holderRecordFile(stateDir), { force: true });
}

/** The recorded holders whose process is alive, by pid; records of dead processes are removed. */
export function liveHolders(stateDir: string): Map<number, Holder> {
  const holders = new Map<number, Holder>();
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch {
    return holders;
  }
  for (const name of names) {
    if (name !== LEGACY && !RECORD.test(name)) continue;
    const file = path.join(stateDir, name);
    const h = readRecord(file);
    if (!h) continue; // being written, or not ours to judge
    if (!isProcessAlive(h.pid)) {
      rmSync(file, { force: true }); // left by a killed process
      continue;
    }
    if (!holders.has(h.pid) || name !== LEGACY) holders.set(h.pid, h);
  }
  return holders;
}

/** A writer of another process waiting for the file, if its process is alive. */
export function waitingWriter(stateDir: string): Holder | null {
  const file = path.join(stateDir, WAITING);
  const h = readRecord(file);
  if (!h || h.pid === process.pid) return null;
  if (isProcessAlive(h.pid) && Date.now() - Date.parse(h.seen_at ?? '') < STALE_MS) return h;
  rmSync(file, { force: true }); // left by a killed writer
  return null;
}

/**
 * Says this process waits to write, unless another live writer already waits (it goes first; this one
 * says so again when that one has gone in), and renews the record while it waits. Best effort: a
 * folder that cannot be written costs only the precedence.
 */
function announceWaitingWriter(stateDir: string, command: string): void {
  if (waitingWriter(stateDir)) return;
  const own = readRecord(path.join(stateDir, WAITING));
  if (own?.pid === process.pid && Date.now() - Date.parse(own.seen_at ?? '') < RENEW_MS) return;
  const now = new Date().toISOString();
  try {
    writeFileAtomically(path.join(stateDir, WAITING), JSON.stringify({ pid: process.pid, command, started_at: own?.pid === process.pid ? own.started_at : now, seen_at: now }));
  } catch {
    /* the precedence is lost, nothing else */
  }
}

/** Removes this process's waiting record (it got the file, or gave up). */
function withdrawWaitingWriter(stateDir: string): void {
  const file = path.join(stateDir, WAITING);
  try {
    if (readRecord(file)?.pid === process.pid) rmSync(file, { force: true });
  } catch {
    /* a folder it may no longer write: the record is swept once this process is gone */
  }
}

/** A write command's wait for the file, as its place in the writers' queue (waitAsWriter). */
export interface WriterWait {
  /** Says again that it waits: call it while waiting (it writes at most every RENEW_MS). */
  renew(): void;
  /** It got the file, or gave up: the place is left (the record goes with the last wait that holds it). */
  end(): void;
}

/**
 * This process's places in writer queues, by state folder: how many of its waits hold each. A
 * command waiting between attempts (scheduler/window-attempts.ts) and the open it retries
 * (workspace.ts), which waits for the file on its own with --wait, share one record, withdrawn when
 * the last of them ends.
 */
const places = new Map<string, { command: string; waits: number }>();

/**
 * Every wait of a write command for the DuckDB file goes through here: from its first refusal it
 * takes its place before readers that arrive after it (writer-waiting.json), renews it while it
 * waits, and leaves it when it gets the file or gives up — or when the process exits meanwhile
 * (process.exit; Ctrl-C ends a waiting CLI command that way, cli/interrupt.ts), so that readers are
 * not held back by a writer that has gone.
 */
export function waitAsWriter(stateDir: string, command: string): WriterWait {
  const dir = path.resolve(stateDir);
  if (!places.size) process.on('exit', withdrawAll);
  const place = places.get(dir) ?? { command, waits: 0 };
  places.set(dir, place);
  place.waits++;
  const said = place.command;
  announceWaitingWriter(dir, said);
  let ended = false;
  return {
    renew: () => {
      if (!ended) announceWaitingWriter(dir, said);
    },
    end: () => {
      if (ended) return;
      ended = true;
      if (--place.waits > 0) return;
      places.delete(dir);
      if (!places.size) process.off('exit', withdrawAll);
      withdrawWaitingWriter(dir);
    },
  };
}

function withdrawAll(): void {
  for (const dir of places.keys()) withdrawWaitingWriter(dir);
}

/** `pid 123 running 'tidemark backfill …' (run r…) since …`: a holder as messages name it. */
export function describeRecord(h: Holder): string {
  const run = h.run_id ? ` (run ${h.run_id}${h.serving ? `, for '${h.serving}'` : ''})` : '';
  return `pid ${h.pid} running '${h.command}'${run} since ${h.started_at}`;
}

function readRecord(file: string): Holder | null {
  try {
    const h = JSON.parse(readFileSync(file, 'utf8')) as Holder;
    return h && Number.isInteger(h.pid) && h.pid > 0 ? h : null;
  } catch {
    return null;
  }
}
