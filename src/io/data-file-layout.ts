/**
 * How a data file given to `ingest` (or `schema check`) is read, from its name and its source's
 * config: its format, whether it is gzip-compressed, and for CSV its field delimiter.
 *
 * - gzip: `orders.csv.gz` (or `.gzip`) is read as `orders.csv` would be, decompressed on the way
 *   (DuckDB natively, PostgreSQL's COPY through node:zlib); the format is the name before `.gz`.
 *   Other compressions are refused by name, with the way forward: the engines' readers here do not
 *   decompress them (and a Parquet file is compressed inside: gzip around it is refused too).
 * - delimiter: `.tsv` means tab-separated; any other CSV is comma-separated unless the source
 *   declares `csv: { delimiter: ';' }`. The file's own name is the more specific word, so a `.tsv`
 *   stays tab-separated even in a source that declares another delimiter.
 */
import path from 'node:path';
import type { FileFormat } from '../engines/engine.js';
import { TidemarkError } from '../errors.js';

export interface DataFileLayout {
  format: FileFormat;
  /** The file is gzip-compressed: it is decompressed as it is read. */
  gzip: boolean;
  /** CSV field delimiter (one character); ',' for other formats, where it is not used. */
  delimiter: string;
  /** The delimiter comes from the source's `csv.delimiter`, not from the default or the name. */
  declaredDelimiter: boolean;
}

/** The part of a source's config that decides how its files are read. */
export interface SourceReading {
  name: string;
  format?: FileFormat;
  csv?: { delimiter: string };
}

const GZIP = /\.(gz|gzip)$/i;
/** Compressions no reader here decompresses: refused by name. */
const OTHER_COMPRESSION = /\.(zst|zstd|bz2|xz|zip|lz4|snappy|7z|br)$/i;

export function layoutOf(file: string, source: SourceReading): DataFileLayout {
  const other = OTHER_COMPRESSION.exec(file);
  if (other) {
    const plain = file.slice(0, -other[0].length);
    throw new TidemarkError('BAD_INPUT', `${file} is compressed (${other[1]}): ingest reads gzip-compressed or plain CSV and NDJSON, and Parquet`, {
      hint: `decompress it first and ingest ${plain}, or compress it with gzip instead (${plain}.gz)`,
    });
  }
  const gz = GZIP.exec(file);
  const inner = gz ? file.slice(0, -gz[0].length) : file;
  const ext = path.extname(inner).toLowerCase();
  const format = source.format ?? formatOfExtension(ext);
  if (!format) {
    throw new TidemarkError('BAD_INPUT', `cannot tell the format of ${file} from its extension`, {
      hint: `use .csv, .tsv, .parquet or .ndjson (each may end in .gz), or set datasets.${source.name}.format in tidemark.yaml`,
    });
  }
  if (gz && format === 'parquet') {
    throw new TidemarkError('BAD_INPUT', `${file} is a gzip-compressed Parquet file: Parquet compresses its own pages, and ingest reads it as it is`, {
      hint: `decompress it first (gunzip -k ${file}) and ingest ${inner}`,
    });
  }
  const tsv = format === 'csv' && ext === '.tsv';
  const declared = format === 'csv' && !tsv && source.csv !== undefined;
  return { format, gzip: gz !== null, delimiter: tsv ? '\t' : declared ? source.csv!.delimiter : ',', declaredDelimiter: declared };
}

function formatOfExtension(ext: string): FileFormat | null {
  if (ext === '.parquet') return 'parquet';
  if (ext === '.ndjson' || ext === '.jsonl' || ext === '.json') return 'ndjson';
  if (ext === '.csv' || ext === '.tsv' || ext === '.txt') return 'csv';
  return null;
}

/** A delimiter as a person reads it in a message: `;`, or the word for an invisible one. */
export function delimiterName(delimiter: string): string {
  if (delimiter === '\t') return 'tabs';
  if (delimiter === ',') return 'commas';
  if (delimiter === ';') return 'semicolons';
  if (delimiter === '|') return 'pipes';
  if (delimiter === ' ') return 'spaces';
  return `'${delimiter}'`;
}

/** A delimiter as tidemark.yaml spells it: double-quoted, so that a tab is written "\t". */
export function delimiterYaml(delimiter: string): string {
  return JSON.stringify(delimiter);
}
