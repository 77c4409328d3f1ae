/**
 * gzip-compressed data files, read through node:zlib: the bytes of a file as its reader wants them
 * (decompressed when it is gzip), and a full check of a gzip file's integrity.
 *
 * The check exists because DuckDB's gzip reader does not verify the end of the stream: a file cut
 * short by a copy or a download (no gzip trailer, so no CRC nor length to compare) reads as the rows
 * before the cut, without an error (DuckDB 1.5: `read_csv` of a truncated `.csv.gz` returns fewer
 * rows, or none). zlib checks the trailer's CRC-32 and length, so a file that decompresses here to
 * its end is the file that was compressed.
 *
 * What the check costs is the decompression (~1 s of CPU for a 51 MB .csv.gz, 182 MB of CSV, in libuv's
 * threads while the engine reads the file: no measurable time added to an ingest), not the read.
 * Feeding the bytes the SHA-256 reads (execute/ingest-hashing.ts) to gunzip as well was measured to
 * save nothing (hash 45 ms, gunzip 0.9 s, in one read or two), and would decompress the files whose
 * hash shows them unchanged. On PostgreSQL the COPY of a CSV decompresses it again through zlib and
 * would fail on a cut as well, still while planning; the check stays there too: an NDJSON file is
 * converted by DuckDB, which does not check, and the check is what names the file as it was given.
 */
import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { TidemarkError } from '../errors.js';

/** The file's bytes as a stream: decompressed when `gzip`, as they are on disk otherwise. */
export function openDataFile(file: string, gzip: boolean, options: { highWaterMark?: number; signal?: AbortSignal } = {}): Readable {
  const raw = createReadStream(file, options);
  if (!gzip) return raw;
  // pipeline forwards a read error (and destroys both streams when either fails or is destroyed).
  return pipeline(raw, createGunzip(), () => undefined);
}

/**
 * Decompresses the whole file, discarding the output; rejects with gzipError when it is not an
 * intact gzip file. `signal` stops it early (the caller no longer needs the answer).
 */
export async function checkGzip(file: string, label: string, signal?: AbortSignal): Promise<void> {
  try {
    for await (const _ of openDataFile(file, true, { highWaterMark: 1 << 20, signal })) {
      /* the output is not needed: reaching the end verifies the trailer */
    }
  } catch (error) {
    throw gzipError(label, error);
  }
}

/** zlib's error codes for a stream that is not gzip, is damaged, or ends early. */
const ZLIB_CODES = new Set(['Z_DATA_ERROR', 'Z_BUF_ERROR', 'Z_STREAM_ERROR', 'Z_NEED_DICT']);

export function isGzipError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && ZLIB_CODES.has(code);
}

/** The refusal of a file that does not decompress: one line naming it, and how to see for oneself. */
export function gzipError(label: string, error: unknown): TidemarkError {
  if (error instanceof TidemarkError) return error;
  if (!isGzipError(error)) {
    const message = error instanceof Error ? error.message : String(error);
    return new TidemarkError('BAD_INPUT', `cannot read ${label}: ${message.split('\n')[0]}`, {}, { cause: error });
  }
  const zlib = (error as Error).message;
  const reason =
    zlib === 'unexpected end of file' ? 'it ends early (cut short by a copy or download?)' : zlib === 'incorrect header check' ? 'it does not start as a gzip file does (is it compressed at all?)' : zlib;
  return new TidemarkError('BAD_INPUT', `${label} is not a complete gzip file: ${reason}`, {
    hint: `check it with gzip -t ${label}, fetch or compress it again, then ingest it; nothing was loaded`,
  }, { cause: error });
}
