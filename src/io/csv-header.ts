import { closeSync, openSync, readSync } from 'node:fs';
import { TidemarkError } from '../errors.js';

/**
 * The column names on a CSV file's first line (quotes removed). Reading the header ourselves lets the
 * engine read every column as text without type sniffing, which is much faster and stricter.
 * `label` names the file in errors, as the user gave it.
 */
export function readCsvHeader(file: string, label = file): string[] {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buf, 0, buf.length, 0);
    refuseUtf16(buf.subarray(0, n), label);
    const first = buf.subarray(0, n).toString('utf8').split(/\r?\n/)[0].replace(/^\uFEFF/, '');
    if (!first.trim()) throw new Error('the file is empty');
    refuseOtherDelimiters(first, label);
    return first.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1').replace(/""/g, '"'));
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

const OTHER_DELIMITERS: [string, string][] = [
  [';', 'semicolons'],
  ['\t', 'tabs'],
  ['|', 'pipes'],
];

/**
 * Tidemark reads comma-separated files. A header with no comma but several `;`, tab or `|` fields is
 * another dialect (a European spreadsheet export, a TSV): said as such, rather than reported as a
 * file whose single column `order_id;customer_id;…` matches no schema version.
 */
function refuseOtherDelimiters(header: string, label: string): void {
  if (header.includes(',')) return;
  const found = OTHER_DELIMITERS.find(([d]) => header.includes(d));
  if (!found) return;
  throw new TidemarkError('BAD_INPUT', `${label} is separated by ${found[1]}, not commas; ingest reads comma-separated CSV`, {
    hint: `convert it to commas first, e.g. duckdb -c "COPY (FROM read_csv('${label}', delim = '${found[0] === '\t' ? '\\t' : found[0]}', all_varchar = true)) TO 'converted.csv'"`,
  });
}
