// gzip-compressed data files, as data engineers receive them: `.csv.gz`, `.ndjson.gz`, `.tsv.gz`,
// `.csv.gzip` ingest like their plain counterparts (value by value, same partitions and checksums);
// the manifest's identity is the hash of the compressed bytes (the same file again is a no-op, a
// changed one replaces exactly its rows); and a file that is not an intact gzip stream — cut short at
// a line boundary, which DuckDB would read as the rows before the cut without a word, or not gzip at
// all — is refused with exit 2 naming it, data and state exactly as before. `schema check` reads them too.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { constants, deflateRawSync, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { generateOrdersCsv } from '../../src/example/shop.js';
import { cleanup, cli, cliJson, days, requireBuild, scaffoldShop, snapshotState, testEngines, withWorkspace, type CliResult, type TestEngine } from '../helpers/project.js';

const DAYS = ['2026-03-01', '2026-03-02', '2026-03-03', '2026-03-04'];
const COLUMNS = ['order_id', 'customer_id', 'amount_cents', 'currency', 'status', 'order_date'];

/** The shop's CSV of a day, as lines (header first). */
const csvLines = (dir: string, day: string) => readFileSync(path.join(dir, 'data', 'orders', `orders-${day}.csv`), 'utf8').trimEnd().split('\n');

/** The same rows as NDJSON (numbers as numbers, the rest as strings). */
function toNdjson(lines: string[]): string {
  const header = lines[0].split(',');
  return lines
    .slice(1)
    .map((line) => {
      const values = line.split(',');
      return JSON.stringify(Object.fromEntries(header.map((h, i) => [h, /^\d+$/.test(values[i]) ? Number(values[i]) : values[i]])));
    })
    .join('\n')
    .concat('\n');
}

const toTsv = (lines: string[]) => `${lines.map((l) => l.replaceAll(',', '\t')).join('\n')}\n`;

/**
 * A gzip file cut short exactly after `text`: a gzip header and a deflate stream flushed to a byte
 * boundary, without its final block and trailer. Every line of `text` decompresses; the end does not.
 */
function gzipCutAfter(text: string): Buffer {
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]);
  return Buffer.concat([header, deflateRawSync(Buffer.from(text), { finishFlush: constants.Z_SYNC_FLUSH })]);
}

/** Every order of the live table, each value as text (the file column, which names the file, left out). */
async function orderRows(dir: string): Promise<string[][]> {
  return withWorkspace(dir, async (ws) => {
    const q = ws.engine.dialect.quote;
    const rows = await ws.engine.query<Record<string, unknown>>(`SELECT ${COLUMNS.map((c) => `CAST(${q(c)} AS VARCHAR) AS ${q(c)}`).join(', ')} FROM ${ws.engine.dialect.table(ws.engine.dataSchema, 'orders')} ORDER BY order_id`);
    return rows.map((r) => COLUMNS.map((c) => String(r[c])));
  });
}

function partitionRecords(dir: string): { partition: string; rows: number; checksum: string; version: number }[] {
  return cliJson<{ partition: string; rows: number; checksum: string; version: number }[]>(dir, ['partitions', 'orders']).map(({ partition, rows, checksum, version }) => ({ partition, rows, checksum, version }));
}

function expectRefusal(r: CliResult, error: RegExp): void {
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr).toMatch(error);
  expect(r.stderr.match(/^error: /gm)).toHaveLength(1);
  expect(r.stderr).toMatch(/^hint: /m);
  expect(r.stderr).not.toMatch(/^\s+at /m);
}

describe.each(testEngines(inject('pgUrl')))('ingest of gzip-compressed files ($kind)', (engine: TestEngine) => {
  /** Loads the plain files. */
  let plain: string;
  /** Loads the same rows, gzip-compressed. */
  let gz: string;
  const plainFiles: string[] = [];
  const gzFiles: string[] = [];

  beforeAll(async () => {
    requireBuild();
    plain = await scaffoldShop(DAYS[0], DAYS[DAYS.length - 1], { engine });
    gz = await scaffoldShop(DAYS[0], DAYS[DAYS.length - 1], { engine });
    // A good file of a day no other file has, given alongside the damaged ones.
    writeFileIn(gz, 'in/more-2026-03-06.csv.gz', gzipSync(generateOrdersCsv('2026-03-06')));
    const lines = DAYS.map((d) => csvLines(plain, d));
    // Day by day, one format each: CSV, NDJSON, TSV, and CSV named .gzip.
    const contents: [string, string][] = [
      ['orders-2026-03-01.csv', `${lines[0].join('\n')}\n`],
      ['orders-2026-03-02.ndjson', toNdjson(lines[1])],
      ['orders-2026-03-03.tsv', toTsv(lines[2])],
      ['orders-2026-03-04.csv', `${lines[3].join('\n')}\n`],
    ];
    for (const [i, [name, text]] of contents.entries()) {
      const plainName = path.join('in', name);
      const gzName = path.join('in', i === 3 ? `${name}.gzip` : `${name}.gz`);
      writeFileIn(plain, plainName, text);
      writeFileIn(gz, gzName, gzipSync(text));
      plainFiles.push(plainName);
      gzFiles.push(gzName);
    }
  }, 300_000);
  afterAll(() => cleanup(plain, gz));

  it('load value by value what the plain files load: same rows, partitions and checksums', async () => {
    expect(cliJson(plain, ['ingest', 'orders', ...plainFiles]).status).toBe('published');
    const loaded = cliJson(gz, ['ingest', 'orders', ...gzFiles]);
    expect(loaded.status).toBe('published');
    expect(loaded.files.map((f: { status: string }) => f.status)).toEqual(['new', 'new', 'new', 'new']);
    const rows = await orderRows(gz);
    expect(rows.length).toBe(DAYS.reduce((n, d) => n + csvLines(plain, d).length - 1, 0));
    expect(rows).toEqual(await orderRows(plain));
    expect(partitionRecords(gz)).toEqual(partitionRecords(plain));
  });

  it('the same .gz files again are a no-op: the manifest knows them by the hash of their compressed bytes', async () => {
    const before = await snapshotState(gz);
    const again = cliJson(gz, ['ingest', 'orders', ...gzFiles]);
    expect(again.status).toBe('noop');
    expect(again.files.map((f: { status: string }) => f.status)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged']);
    expect(await snapshotState(gz)).toEqual(before);
    const manifest = await withWorkspace(gz, (ws) => ws.engine.query<{ file: string; bytes: unknown }>(`SELECT file, bytes FROM ${ws.engine.dialect.table(ws.engine.stateSchema, 'ingested_files')} ORDER BY file`));
    expect(manifest.map((m) => [m.file, Number(m.bytes)])).toEqual(gzFiles.map((f) => [f, readFileSync(path.join(gz, f)).length]));
  });

  it('a changed .gz replaces exactly its own rows', async () => {
    const before = partitionRecords(gz);
    const lines = csvLines(gz, DAYS[0]);
    // One order fewer, one amount changed.
    const changed = [lines[0], ...lines.slice(2)];
    const [id, customer, , currency, status, day] = changed[1].split(',');
    changed[1] = [id, customer, '123456', currency, status, day].join(',');
    writeFileIn(gz, gzFiles[0], gzipSync(`${changed.join('\n')}\n`));
    const r = cliJson(gz, ['ingest', 'orders', ...gzFiles]);
    expect(r.status).toBe('published');
    expect(r.files.map((f: { status: string }) => f.status)).toEqual(['changed', 'unchanged', 'unchanged', 'unchanged']);
    expect(r.published.map((p: { partition: string }) => p.partition)).toEqual([DAYS[0]]);
    const after = partitionRecords(gz);
    expect(after.slice(1)).toEqual(before.slice(1));
    expect(after[0]).toMatchObject({ partition: DAYS[0], rows: lines.length - 2, version: before[0].version + 1 });
    const rows = (await orderRows(gz)).filter((row) => row[5] === DAYS[0]);
    expect(rows).toEqual(changed.slice(1).map((l) => l.split(',')));
  });

  it('a .gz that is cut short or not gzip at all is refused naming it, and nothing changes', async () => {
    const before = await snapshotState(gz);
    // Large enough that its start decompresses before the cut is reached: only reading to the end finds it.
    const month = days('2026-03-05', '2026-03-31');
    const lines = month.flatMap((d, i) => generateOrdersCsv(d).trimEnd().split('\n').slice(i === 0 ? 0 : 1));
    const half = `${lines.slice(0, Math.floor(lines.length / 2)).join('\n')}\n`;
    expect(gzipCutAfter(half).length).toBeGreaterThan(128 * 1024);
    const newFile = 'in/cut-2026-03-05.csv.gz';
    const cases: [string, Buffer, RegExp][] = [
      // A new day's file cut at a line boundary: its first half would read as whole rows.
      [newFile, gzipCutAfter(half), /^error: in\/cut-2026-03-05\.csv\.gz is not a complete gzip file: it ends early/m],
      // Plain text named .gz.
      [newFile, Buffer.from(half), /^error: in\/cut-2026-03-05\.csv\.gz is not a complete gzip file: it does not start as a gzip file does/m],
      // Only the start of a gzip header.
      [newFile, Buffer.from([0x1f, 0x8b, 8, 0]), /^error: in\/cut-2026-03-05\.csv\.gz is not a complete gzip file/m],
      // A loaded file rewritten and cut short: its rows must stay as they are.
      [gzFiles[0], gzipCutAfter(`${csvLines(gz, DAYS[0]).slice(0, 10).join('\n')}\n`), /^error: in\/orders-2026-03-01\.csv\.gz is not a complete gzip file: it ends early/m],
    ];
    const loaded = readFileSync(path.join(gz, gzFiles[0]));
    for (const [file, bytes, error] of cases) {
      writeFileIn(gz, file, bytes);
      expectRefusal(cli(gz, ['ingest', 'orders', file]), error);
      // Given with good files, too: nothing of them is loaded either.
      expectRefusal(cli(gz, ['ingest', 'orders', 'in/more-2026-03-06.csv.gz', file]), error);
    }
    writeFileIn(gz, gzFiles[0], loaded);
    // An NDJSON file cut short the same way.
    writeFileIn(gz, 'in/cut.ndjson.gz', gzipCutAfter(toNdjson(lines.slice(0, 20))));
    expectRefusal(cli(gz, ['ingest', 'orders', 'in/cut.ndjson.gz']), /^error: in\/cut\.ndjson\.gz is not a complete gzip file: it ends early/m);
    expect(await snapshotState(gz)).toEqual(before);
  });

  it('other compressions and gzip around Parquet stay refused, with the way forward', () => {
    writeFileIn(gz, 'in/orders.csv.zst', Buffer.from([0x28, 0xb5, 0x2f, 0xfd]));
    expectRefusal(cli(gz, ['ingest', 'orders', 'in/orders.csv.zst']), /^error: in\/orders\.csv\.zst is compressed \(zst\)/m);
    expect(cli(gz, ['ingest', 'orders', 'in/orders.csv.zst']).stderr).toMatch(/^hint: decompress it first and ingest in\/orders\.csv/m);
    writeFileIn(gz, 'in/orders.parquet.gz', gzipSync('PAR1'));
    expectRefusal(cli(gz, ['ingest', 'orders', 'in/orders.parquet.gz']), /^error: in\/orders\.parquet\.gz is a gzip-compressed Parquet file/m);
  });

  it('schema check reads a .csv.gz, and says when one is cut short', () => {
    const ok = cli(gz, ['schema', 'check', 'orders', gzFiles[1], gzFiles[2], '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const report = JSON.parse(ok.stdout);
    expect(report.files.map((f: { file: string; ok: boolean; rows: number }) => [f.file, f.ok, f.rows])).toEqual([
      [gzFiles[1], true, csvLines(gz, DAYS[1]).length - 1],
      [gzFiles[2], true, csvLines(gz, DAYS[2]).length - 1],
    ]);
    writeFileIn(gz, 'in/cut-check.csv.gz', gzipCutAfter(`${csvLines(gz, DAYS[1]).slice(0, 10).join('\n')}\n`));
    const cut = cli(gz, ['schema', 'check', 'orders', 'in/cut-check.csv.gz', '--json']);
    expect(cut.code).toBe(4);
    expect(JSON.parse(cut.stdout).files[0]).toMatchObject({ ok: false, error: expect.stringMatching(/in\/cut-check\.csv\.gz is not a complete gzip file/) });
  });
});

function writeFileIn(dir: string, name: string, content: string | Buffer): void {
  mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
  writeFileSync(path.join(dir, name), content);
}
