/**
 * The tamper-evident audit chain (DESIGN.md failure mode 7). Pure: no database, no clock.
 *
 * Every audit record is hashed over `prev_hash + '\n' + canonicalJson(body)` (RFC 8785), where the
 * body is every field of the record except `hash`, including `seq` and `prev_hash`. Each record
 * therefore commits to its position and to the whole history before it. A plain chain cannot see
 * its own tail being cut off, so callers export the head hash (`verdict.head`) somewhere else and
 * pass it back as `opts.head` to detect truncation.
 */
import { createHash } from 'node:crypto';
import { TidemarkError } from '../errors.js';
import { canonicalJson, canonicalJsonOfParsed } from './canonical.js';

/** prev_hash of the first record. */
export const GENESIS_HASH: string = '0'.repeat(64);

/** Everything that is hashed. */
export interface AuditRecordBody {
  seq: number;
  at: string;
  actor: string;
  action: string;
  reason: string;
  command: string;
  run_id: string | null;
  dataset: string | null;
  partitions: string[];
  /** JSON: per partition version/rows/checksum before/after, etc. */
  details: unknown;
  tidemark_version: string;
  config_hash: string;
  prev_hash: string;
}

export interface AuditRecord extends AuditRecordBody {
  hash: string;
}

export type ChainProblem = 'altered' | 'missing' | 'reordered' | 'truncated' | 'broken_link';

export type ChainVerdict =
  | { ok: true; count: number; head: string; first_seq: number | null; last_seq: number | null }
  | { ok: false; count: number; seq: number; problem: ChainProblem; message: string };

/**
 * Exactly the hashed fields, in a fresh object: extra properties (the stored `hash`, database
 * columns such as an id) never leak into the hash. A missing `run_id` / `dataset` / `details` is
 * hashed as null, which is what a database NULL reads back as.
 */
function hashedFields(body: AuditRecordBody): AuditRecordBody {
  return {
    seq: body.seq,
    at: body.at,
    actor: body.actor,
    action: body.action,
    reason: body.reason,
    command: body.command,
    run_id: body.run_id ?? null,
    dataset: body.dataset ?? null,
    partitions: body.partitions,
    details: body.details === undefined ? null : body.details,
    tidemark_version: body.tidemark_version,
    config_hash: body.config_hash,
    prev_hash: body.prev_hash,
  };
}

/** sha256 hex over `body.prev_hash + '\n' + canonicalJson(body)` (only the body fields are used). */
export function hashAuditRecord(body: AuditRecordBody, parsed = false): string {
  const fields = hashedFields(body);
  return createHash('sha256')
    .update(`${fields.prev_hash}\n${parsed ? canonicalJsonOfParsed(fields) : canonicalJson(fields)}`, 'utf8')
    .digest('hex');
}

/**
 * A record as the audit table stores it: `partitions` and `details` still the JSON text written at
 * seal time. Verification hashes it without parsing them (stored-record.ts), which is most of what
 * verifying a long chain costs.
 */
export interface StoredAuditRecord extends Omit<AuditRecord, 'partitions' | 'details'> {
  partitions_json: string | null;
  details_json: string | null;
}

/** The recomputed hash of a record, stored (JSON columns as text) or parsed. */
function recomputedHash(rec: AuditRecord | StoredAuditRecord): string {
  if (!('details_json' in rec)) return hashAuditRecord(rec, true);
  const fast = hashStoredAuditRecord(rec);
  if (fast === rec.hash) return fast;
  // Text that is not the canonical form Tidemark writes (an equivalent rewrite, or a tampered
  // column): hash what it means, as a parsed record would be.
  return hashAuditRecord({ ...rec, partitions: parseOrNull(rec.partitions_json) as string[], details: parseOrNull(rec.details_json) }, true);
}

function parseOrNull(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text);
  } catch {
    return text; // not JSON: hashes as a string, so it cannot match a sealed record
  }
}

/** A JSON array of strings, with no structure a neighbouring column's text could lean on. */
const FLAT_STRING_ARRAY = /^\[(?:"(?:[^"\\\u0000-\u001f]|\\.)*"(?:,"(?:[^"\\\u0000-\u001f]|\\.)*")*)?\]$/;

/**
 * The hash of a stored record whose JSON columns hold the canonical text sealAuditRecord wrote,
 * spliced into the canonical record text as they are: the same text canonicalJson builds from the
 * parsed record, without parsing and re-serialising `details`. Every other field is serialised
 * here, so it is a JSON literal with no structure; `partitions` must be a flat array of strings. So
 * the splice has one reading: a match means every column holds exactly what was sealed (moving
 * text between the two JSON columns cannot keep the hash). Anything else is hashed from its parse.
 */
function hashStoredAuditRecord(rec: StoredAuditRecord): string | null {
  if (rec.partitions_json === null || rec.details_json === null || !FLAT_STRING_ARRAY.test(rec.partitions_json)) return null;
  if (typeof rec.seq !== 'number' || !Number.isSafeInteger(rec.seq)) return null;
  const s = canonicalJsonOfParsed;
  const text =
    `{"action":${s(rec.action)},"actor":${s(rec.actor)},"at":${s(rec.at)},"command":${s(rec.command)},"config_hash":${s(rec.config_hash)},` +
    `"dataset":${s(rec.dataset ?? null)},"details":${rec.details_json},"partitions":${rec.partitions_json},"prev_hash":${s(rec.prev_hash)},` +
    `"reason":${s(rec.reason)},"run_id":${s(rec.run_id ?? null)},"seq":${rec.seq},"tidemark_version":${s(rec.tidemark_version)}}`;
  return createHash('sha256').update(`${rec.prev_hash}\n${text}`, 'utf8').digest('hex');
}

const HASH_RE = /^[0-9a-f]{64}$/;

function requireString(name: string, value: unknown): void {
  if (typeof value !== 'string') {
    throw new Error(`sealAuditRecord: ${name} must be a string, got ${value === null ? 'null' : typeof value}`);
  }
}

/**
 * Builds the next record of the chain: seq = prev.seq + 1 (1 for the first), prev_hash = prev.hash
 * (GENESIS_HASH for the first), hash computed over the rest. `details` is stored as its JSON round
 * trip (a detached copy holding exactly what was hashed), so later mutation of the caller's
 * objects cannot make the record disagree with its hash, and the record equals what the database
 * will hand back.
 */
export function sealAuditRecord(
  prev: { seq: number; hash: string } | null,
  fields: Omit<AuditRecordBody, 'seq' | 'prev_hash'>,
): AuditRecord {
  if (prev !== null) {
    if (!Number.isSafeInteger(prev.seq) || prev.seq < 1) {
      throw new Error(`sealAuditRecord: previous seq must be a positive integer, got ${String(prev.seq)}`);
    }
    if (typeof prev.hash !== 'string' || !HASH_RE.test(prev.hash)) {
      throw new Error(`sealAuditRecord: previous hash must be 64 lowercase hex characters, got ${String(prev.hash)}`);
    }
  }
  for (const name of ['at', 'actor', 'action', 'reason', 'command', 'tidemark_version', 'config_hash'] as const) {
    requireString(name, fields[name]);
  }
  for (const name of ['run_id', 'dataset'] as const) {
    const v = fields[name];
    if (v !== null && v !== undefined) requireString(name, v);
  }
  if (!Array.isArray(fields.partitions) || fields.partitions.some((p) => typeof p !== 'string')) {
    throw new Error('sealAuditRecord: partitions must be an array of strings');
  }
  const body: AuditRecordBody = hashedFields({
    ...fields,
    partitions: [...fields.partitions],
    details: fields.details === undefined ? null : JSON.parse(canonicalJson(fields.details)),
    seq: prev === null ? 1 : prev.seq + 1,
    prev_hash: prev === null ? GENESIS_HASH : prev.hash,
  });
  return { ...body, hash: hashAuditRecord(body) };
}

function short(hash: string): string {
  return `${String(hash).slice(0, 12)}…`;
}

/**
 * Verifies `records` (as stored, ordered by seq ascending, possibly tampered with) in one O(n) walk
 * and reports the FIRST problem. Before record i is checked, records 0..i-1 are known good, so they
 * are numbered 1..i and record i should be number `expected = i + 1`; a failing verdict's `seq` is
 * that number: the position in the sequence where the chain first goes wrong.
 *
 * Per record, in this order:
 *  1. its prev_hash is not the previous record's hash (GENESIS_HASH for the first) but is the hash
 *     of a record further down the list -> `reordered` (two records swapped, whether their seq
 *     values or their contents were exchanged);
 *  2. its recomputed hash differs from its stored hash -> `altered` (any field, seq included; this
 *     wins over a broken link that is not a reorder);
 *  3. its seq is past the expected number -> `missing`, naming the first absent seq;
 *  4. any other seq or link mismatch -> `broken_link` (e.g. a record re-hashed after editing, which
 *     the next record no longer links to, or a duplicated record).
 * Then, with `opts.head` (a previously exported head hash): if no record has that hash, the tail
 * was cut off -> `truncated` with seq = last seq + 1. The head may be an earlier record's hash
 * (records appended after it was anchored) or GENESIS_HASH (anchored while empty); that is fine.
 *
 * An `ok` verdict's `head` is the last record's hash (GENESIS_HASH for an empty chain): export it.
 * Values no JSON column could hold (a bigint seq, say) make it throw (BAD_INPUT) rather than report
 * tampering; so does an export's trailer line handed over as if it were the last record.
 */
export function verifyAuditChain(records: (AuditRecord | StoredAuditRecord)[], opts: { head?: string } = {}): ChainVerdict {
  refuseExportTrailer(records);
  const count = records.length;
  // Stored hash -> last index holding it (O(1) reorder and head checks).
  const indexOfHash = new Map<string, number>();
  for (let i = 0; i < count; i++) indexOfHash.set(records[i].hash, i);

  const bad = (seq: number, problem: ChainProblem, message: string): ChainVerdict => ({
    ok: false,
    count,
    seq,
    problem,
    message,
  });

  for (let i = 0; i < count; i++) {
    const rec = records[i];
    const expected = i + 1;
    const expectedPrev = i === 0 ? GENESIS_HASH : records[i - 1].hash;
    const linkOk = rec.prev_hash === expectedPrev;

    if (!linkOk) {
      const j = indexOfHash.get(rec.prev_hash);
      if (j !== undefined && j > i) {
        const later = records[j];
        const message =
          rec.seq === later.seq
            ? `two records numbered ${rec.seq} are out of order: the first links to the hash of the second`
            : `records ${Math.min(rec.seq, later.seq)} and ${Math.max(rec.seq, later.seq)} are out of order: ` +
              `record ${rec.seq} links to the hash of record ${later.seq}`;
        return bad(expected, 'reordered', message);
      }
    }

    let actual: string;
    try {
      // Stored records are JSON (text, or parsed): JSON-safe by construction, so the validating walk is skipped.
      actual = recomputedHash(rec);
    } catch (err) {
      // Not tampering: the caller handed over values no JSON column could hold (e.g. a bigint seq).
      throw new TidemarkError(
        'BAD_INPUT',
        `verifyAuditChain: cannot hash the record at position ${expected} (seq ${String(rec.seq)}): ` +
          (err instanceof Error ? err.message : String(err)),
        { hint: 'pass the records as read back from JSON (the lines of an export, parsed) or from the audit table' },
        { cause: err },
      );
    }
    if (actual !== rec.hash) {
      const which = rec.seq === expected ? `record ${expected}` : `record ${expected} (now numbered ${String(rec.seq)})`;
      return bad(expected, 'altered', `${which} was altered: its content no longer matches its hash`);
    }

    if (rec.seq !== expected) {
      if (Number.isSafeInteger(rec.seq) && rec.seq > expected) {
        const lastAbsent = rec.seq - 1;
        const message =
          i === 0
            ? `${lastAbsent === expected ? `record ${expected} is` : `records ${expected} to ${lastAbsent} are`} missing: ` +
              `the chain starts at record ${rec.seq}`
            : `${lastAbsent === expected ? `record ${expected} is` : `records ${expected} to ${lastAbsent} are`} missing: ` +
              `sequence jumps from ${expected - 1} to ${rec.seq}`;
        return bad(expected, 'missing', message);
      }
      return bad(
        expected,
        'broken_link',
        `the chain is broken at record ${expected}: the record found there is numbered ${String(rec.seq)}`,
      );
    }

    if (!linkOk) {
      const message =
        i === 0
          ? `the chain is broken at record 1: its prev_hash ${short(rec.prev_hash)} is not the genesis hash`
          : `the chain is broken at record ${expected}: its prev_hash ${short(rec.prev_hash)} is not ` +
            `the hash of record ${expected - 1} (${short(expectedPrev)})`;
      return bad(expected, 'broken_link', message);
    }
  }

  const lastSeq = count === 0 ? null : records[count - 1].seq;
  if (opts.head !== undefined) {
    const head = opts.head.trim().toLowerCase();
    // GENESIS_HASH is the root of every chain: a head exported while the chain was empty.
    if (head !== GENESIS_HASH && !indexOfHash.has(head)) {
      const message =
        count === 0
          ? `the chain was truncated: it is empty, but the anchored head ${short(head)} is expected`
          : `the chain was truncated after record ${lastSeq}: the anchored head ${short(head)} is not in the chain`;
      return bad((lastSeq ?? 0) + 1, 'truncated', message);
    }
  }

  return {
    ok: true,
    count,
    head: count === 0 ? GENESIS_HASH : records[count - 1].hash,
    first_seq: count === 0 ? null : records[0].seq,
    last_seq: lastSeq,
  };
}

/**
 * `audit export` (exportAudit's `lines`) ends with `{"count":N,"head":"<hash>"}`, not a record. Parsed
 * with the records and verified as one, it read as the last record "altered", a false alarm of
 * tampering on an intact export: refused instead, with the way to use it (its head anchors the chain).
 */
function refuseExportTrailer(records: readonly unknown[]): void {
  const last = records[records.length - 1];
  if (typeof last !== 'object' || last === null || Array.isArray(last)) return;
  const keys = Object.keys(last).sort();
  if (keys.length !== 2 || keys[0] !== 'count' || keys[1] !== 'head') return;
  throw new TidemarkError('BAD_INPUT', `verifyAuditChain: the last of the ${records.length} lines is an export's trailer {"count","head"}, not an audit record`, {
    hint: 'verify the lines before it, and pass the trailer\'s head as { head }: that also tells a chain whose tail was cut off',
  });
}
