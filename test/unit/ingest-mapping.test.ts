// The manifest's mapping hash (src/execute/ingest-mapping.ts): a CSV delimiter the source declares is
// part of it, since it splits the same bytes into other fields; a file parsed as its name says keeps
// the hash it had before delimiters were hashed, so a project loaded before does not see its files as
// changed. The literals were computed by the code before the change (commit 2b525b1).
import { describe, expect, it } from 'vitest';
import type { SourceSpec } from '../../src/config/project.js';
import { mappingHash } from '../../src/execute/ingest-mapping.js';
import { schemaVersions } from '../../src/execute/schema-match.js';
import { layoutOf } from '../../src/io/data-file-layout.js';

const col = (name: string, type: string) => ({ name, type });
const orders: SourceSpec = {
  name: 'orders',
  kind: 'source',
  columns: [col('order_id', 'BIGINT'), col('customer_id', 'BIGINT'), col('amount_cents', 'BIGINT'), col('currency', 'VARCHAR'), col('status', 'VARCHAR'), col('order_date', 'DATE')],
  history: [
    {
      version: 1,
      columns: [col('order_id', 'BIGINT'), col('customer', 'BIGINT'), col('amount', 'DOUBLE'), col('order_date', 'DATE')],
      adapt: { customer_id: 'customer', amount_cents: 'CAST(round(amount * 100) AS BIGINT)', currency: "'USD'", status: "'paid'" },
    },
  ],
} as unknown as SourceSpec;

/** mappingHash of the current version (2) and version 1, for `file` read by `source`. */
function hashes(file: string, source: SourceSpec): string[] {
  const layout = layoutOf(file, source);
  return schemaVersions(source).map((v) => mappingHash(source, v, layout));
}

const BEFORE = ['37ee73ed8b5cc8488f0661f6c6c4d1f8', '845bec2f19920021f0615251ade59cf1'];

describe('the mapping hash of an ingested file', () => {
  it('is the one it was for files parsed as their name says: comma CSV, a declared comma, TSV, NDJSON, Parquet, gzip', () => {
    expect(hashes('data/orders-2026-03-01.csv', orders)).toEqual(BEFORE);
    expect(hashes('data/orders-2026-03-01.csv.gz', orders)).toEqual(BEFORE);
    expect(hashes('data/orders-2026-03-01.csv', { ...orders, csv: { delimiter: ',' } })).toEqual(BEFORE);
    expect(hashes('data/orders-2026-03-01.tsv', orders)).toEqual(BEFORE);
    // A .tsv stays tab-separated whatever the source declares: its parsing did not change.
    expect(hashes('data/orders-2026-03-01.tsv', { ...orders, csv: { delimiter: ';' } })).toEqual(BEFORE);
    expect(hashes('data/orders-2026-03-01.ndjson', { ...orders, csv: { delimiter: ';' } })).toEqual(BEFORE);
    expect(hashes('data/orders-2026-03-01.parquet', { ...orders, csv: { delimiter: ';' } })).toEqual(BEFORE);
  });

  it('changes with a declared delimiter other than the comma, one hash per delimiter', () => {
    const semi = hashes('data/orders-2026-03-01.csv', { ...orders, csv: { delimiter: ';' } });
    const pipe = hashes('data/orders-2026-03-01.csv', { ...orders, csv: { delimiter: '|' } });
    const tab = hashes('data/orders-2026-03-01.txt', { ...orders, csv: { delimiter: '\t' } });
    for (const h of [semi, pipe, tab]) for (const [i, b] of BEFORE.entries()) expect(h[i]).not.toBe(b);
    expect(new Set([semi[0], pipe[0], tab[0]]).size).toBe(3);
    // Compressed or not, the same parsing.
    expect(hashes('data/orders-2026-03-01.csv.gz', { ...orders, csv: { delimiter: ';' } })).toEqual(semi);
  });
});
