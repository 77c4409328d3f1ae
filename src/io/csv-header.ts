import { closeSync, openSync, readSync } from 'node:fs';
import { TidemarkError } from '../errors.js';
import { delimiterName, delimiterYaml, type DataFileLayout } from './data-file-layout.js';
import { gzipError, openDataFile } from './gzip.js';

export interface CsvHeaderOptions {
  /** Names the file in errors, as the user gave it (default: the path). */
  label?: string;
  /** The source reading the file: its config is named in a refusal's hint. */
  source?: string;
}

/** How much of the (decompressed) file is read to find the header line. */
const HEAD_BYTES = 64 * 1024;

/**
 * The column names on a CSV file's first line (quotes removed), split by the layout's delimiter; a
 * gzip file is decompressed as far as that line only. Reading the header ourselves lets the engine
 * read every column as text without type sniffing, which is much faster and stricter.
 */
export async function readCsvHeader(file: string, layout: Pick<DataFileLayout, 'gzip' | 'delimiter' | 'declaredDelimiter'>, options: CsvHeaderOptions = {}): Promise<string[]> {
  const label = options.label ?? file;
  const head = await readHead(file, layout.gzip, label);
  refuseUtf16(head, label);
  const first = head.toString('utf8').split(/\r?\n/)[0].replace(/^\uFEFF/, '');
  if (!first.trim()) throw new Error('the file is empty');
  refuseOtherDelimiters(first, layout, label, options.source);
  return first.split(layout.delimiter).map((c) => c.trim().replace(/^"(.*)"$/, '$1').replace(/""/g, '"'));
}

/** The file's first bytes (decompressed), up to its first line break or HEAD_BYTES. */
async function readHead(file: string, gzip: boolean, label: string): Promise<Buffer> {
  if (!gzip) return readPlainHead(file);
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    // Leaving the loop early destroys the stream: a large file is neither read nor decompressed further.
    for await (const chunk of openDataFile(file, true, { highWaterMark: HEAD_BYTES })) {
      chunks.push(chunk as Buffer);
      length += (chunk as Buffer).length;
      if (length >= HEAD_BYTES || (chunk as Buffer).includes(0x0a)) break;
    }
  } catch (error) {
    throw gzipError(label, error);
  }
  return Buffer.concat(chunks).subarray(0, HEAD_BYTES);
}

/** One read at the start of an uncompressed file (a stream costs more, paid per file of a bulk load). */
function readPlainHead(file: string): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(HEAD_BYTES);
    return buf.subarray(0, readSync(fd, buf, 0, HEAD_BYTES, 0));
  } finally {
    closeSync(fd);
  }
}

/** Spreadsheet exports in UTF-16 start with its byte-order mark; read as UTF-8 they give a garbage header. */
function refuseUtf16(head: Buffer, label: string): void {
  const le = head[0] === 0xff && head[1] === 0xfe;
  const be = head[0] === 0xfe && head[1] === 0xff;
  if (!le && !be) return;
  throw new TidemarkError('BAD_INPUT', `${label} is UTF-16 encoded; ingest reads UTF-8 CSV`, {
    hint: `convert it first (iconv -f UTF-16 -t UTF-8 ${label} > converted.csv), or save it as "CSV UTF-8"`,
  });
}

/** Delimiters a header of another dialect is recognised by (a European spreadsheet export, a TSV, a pipe dump). */
const KNOWN_DELIMITERS = [',', ';', '\t', '|'];

/**
 * A header without the expected delimiter but with another known one is a file of another dialect:
 * said as such, rather than reported as a file whose single column `order_id;customer_id;…` matches
 * no schema version. The hint names the way to read it: the source's `csv: { delimiter: … }`.
 */
function refuseOtherDelimiters(header: string, layout: Pick<DataFileLayout, 'delimiter' | 'declaredDelimiter'>, label: string, source = 'SOURCE'): void {
  const expected = layout.delimiter;
  if (header.includes(expected)) return;
  const found = KNOWN_DELIMITERS.find((d) => d !== expected && header.includes(d));
  if (found === undefined) return;
  const declare = `datasets.${source}.csv: { delimiter: ${delimiterYaml(found)} }`;
  let why: string;
  let hint: string;
  if (layout.declaredDelimiter) {
    why = `datasets.${source}.csv.delimiter is ${delimiterYaml(expected)}`;
    hint = `convert the file to ${delimiterName(expected)}, or change datasets.${source}.csv.delimiter in tidemark.yaml if every file of ${source} is separated by ${delimiterName(found)}`;
  } else if (expected === '\t') {
    why = 'a .tsv file is read as tab-separated';
    hint = `name it .csv instead of .tsv${found === ',' ? '' : `, and declare ${declare} in tidemark.yaml`}`;
  } else {
    why = 'ingest reads comma-separated CSV';
    // A tab-separated file named .csv is read as it is once named .tsv, without a setting for every file of the source.
    hint = found === '\t' ? `name it .tsv (read as tab-separated), or declare the delimiter in tidemark.yaml: ${declare}` : `declare the delimiter in tidemark.yaml: ${declare}`;
  }
  // `separatedBy`: ingest words its own refusal of a file loaded before with the delimiter it has.
  throw new TidemarkError('BAD_INPUT', `${label} is separated by ${delimiterName(found)}, not ${delimiterName(expected)} (${why})`, { hint, separatedBy: found });
}
