/**
 * Data files on PostgreSQL. The server cannot read files on the client's machine, yet ingest wants
 * `readFileSql()`: a SELECT over a file, used by several statements (partition discovery, staging).
 * So here a file becomes a table: `readFileSql()` registers the file and returns
 * `SELECT * FROM <staging>._tm_file_…`; the first statement that reads that table loads the file
 * into it (COPY FROM STDIN, in its own committed transaction), and later statements reuse it. Every
 * column is text, like DuckDB's all-VARCHAR CSV read: ingest casts to the declared types in SQL.
 *
 * CSV is streamed to the server as it is (PostgreSQL parses it). Parquet and NDJSON are first turned
 * into CSV by an in-memory DuckDB: the one place outside src/engines/duckdb that uses the DuckDB
 * driver, and only to read files (Tidemark already depends on it; PostgreSQL has no reader for them).
 *
 * The tables are UNLOGGED scratch, named per engine instance so concurrent processes never share
 * one, keyed by the file's path, size and mtime so an edited file is loaded again, and dropped when
 * the engine closes (a crashed process leaves them behind, like its staging tables).
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { TidemarkError } from '../../errors.js';
import type { FileFormat } from '../engine.js';
import { copyFromFile } from './copy-from.js';
import { postgresDialect as d } from './dialect.js';
import { readCsvHeader } from '../../io/csv-header.js';

interface FileTable {
  qualified: string;
  file: string;
  format: FileFormat;
  header?: string[];
  loaded: boolean;
  loading?: Promise<void>;
}

export class FileTables {
  private readonly instance = randomBytes(4).toString('hex');
  private readonly byKey = new Map<string, FileTable>();
  private count = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
  ) {}

  /** A SELECT reading `file`; the file is loaded by the first statement that runs it. */
  selectFrom(file: string, format: FileFormat, header?: string[]): string {
    let stamp = 'missing';
    try {
      const st = statSync(file);
      stamp = `${st.size}:${st.mtimeMs}`;
    } catch {
      /* the load reports the error, when the SELECT is used */
    }
    const key = JSON.stringify([file, format, header ?? null, stamp]);
    let table = this.byKey.get(key);
    if (!table) {
      const name = `_tm_file_${this.instance}_${++this.count}`;
      table = { qualified: d.table(this.schema, name), file, format, header, loaded: false };
      this.byKey.set(key, table);
    }
    return `SELECT * FROM ${table.qualified}`;
  }

  /** Loads the registered files that `sql` reads and that are not loaded yet. */
  async loadFor(sql: string): Promise<void> {
    if (this.byKey.size === 0) return;
    for (const table of this.byKey.values()) {
      if (table.loaded || !sql.includes(table.qualified)) continue;
      table.loading ??= this.load(table).then(
        () => void (table.loaded = true),
        (error: unknown) => {
          table.loading = undefined; // a later statement may try again
          throw error;
        },
      );
      await table.loading;
    }
  }

  async dropAll(): Promise<void> {
    for (const table of this.byKey.values()) {
      if (table.loaded) await this.pool.query(`DROP TABLE IF EXISTS ${table.qualified}`).catch(() => undefined);
    }
    this.byKey.clear();
  }

  private async load(table: FileTable): Promise<void> {
    let tmp: string | null = null;
    try {
      let csv = table.file;
      let columns: string[];
      if (table.format === 'csv') {
        columns = table.header?.length ? table.header : readCsvHeader(table.file);
      } else {
        tmp = await mkdtemp(path.join(os.tmpdir(), 'tidemark-load-'));
        csv = path.join(tmp, 'data.csv');
        columns = await convertToCsv(table.file, table.format, csv);
      }
      const cols = columns.map((c) => d.quote(c));
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        await client.query(`CREATE UNLOGGED TABLE ${table.qualified} (${cols.map((c) => `${c} TEXT`).join(', ')})`);
        // FORCE_NULL: an empty field is NULL whether quoted or not, as DuckDB's read_csv reads it.
        await copyFromFile(client, `COPY ${table.qualified} (${cols.join(', ')}) FROM STDIN WITH (FORMAT csv, HEADER true, FORCE_NULL (${cols.join(', ')}))`, csv);
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw error;
      } finally {
        client.release(broken);
      }
    } catch (error) {
      if (error instanceof TidemarkError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new TidemarkError('BAD_INPUT', `cannot load ${path.basename(table.file)} into PostgreSQL: ${message.split('\n')[0]}`, { engineMessage: message }, { cause: error });
    } finally {
      if (tmp) await rm(tmp, { recursive: true, force: true });
    }
  }
}


/** Writes a Parquet or NDJSON file as CSV (with a header) using an in-memory DuckDB; returns the column names. */
async function convertToCsv(file: string, format: Exclude<FileFormat, 'csv'>, out: string): Promise<string[]> {
  const { DuckDBInstance } = (await import('../duckdb/driver.js')).duckdb;
  const instance = await DuckDBInstance.create(':memory:');
  try {
    const conn = await instance.connect();
    try {
      const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
      const read = format === 'parquet' ? `read_parquet(${lit(file)})` : `read_json(${lit(file)}, format = 'newline_delimited')`;
      const described = (await conn.runAndReadAll(`DESCRIBE SELECT * FROM ${read}`)).getRowObjects();
      const columns = described.map((r) => String(r.column_name));
      await conn.run(`COPY (SELECT * FROM ${read}) TO ${lit(out)} (FORMAT csv, HEADER true)`);
      return columns;
    } finally {
      conn.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}
