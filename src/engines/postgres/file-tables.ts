/**
 * Data files on PostgreSQL. The server cannot read files on the client's machine, yet ingest wants
 * `readFileSql()`: a SELECT over a file, used by several statements (partition discovery, staging).
 * So here a file becomes a table: `readFileSql()` registers the file and returns
 * `SELECT * FROM <staging>._tm_file_…`; the first statement that reads that table loads the file
 * into it (COPY FROM STDIN, in its own committed transaction), and later statements reuse it. Every
 * column is text, like DuckDB's all-VARCHAR CSV read: ingest casts to the declared types in SQL.
 *
 * CSV is streamed to the server as it is (PostgreSQL parses it, with the file's delimiter), a gzip
 * file decompressed on the way (copy-from.ts). Parquet and NDJSON are first turned into CSV by an
 * in-memory DuckDB (which decompresses a gzip NDJSON file itself): the one place outside
 * src/engines/duckdb that uses the DuckDB driver, and only to read files (Tidemark already depends
 * on it; PostgreSQL has no reader for them).
 *
 * The tables are UNLOGGED scratch, named per engine instance so concurrent processes never share
 * one, keyed by the file's path, size and mtime so an edited file is loaded again, and dropped when
 * the engine closes (a crashed process leaves them behind, like its staging tables).
 *
 * Other processes share the staging schema, and `tidemark gc` drops the file tables of a process
 * that is gone, so an instance proves it is alive: before its first table is created it takes the
 * owner lock of its instance id (file-table-owner.ts) on a session of its own, held until it closes.
 * If that session is lost (the server restarted, the connection dropped), PostgreSQL released the
 * lock and gc may have dropped the tables: the next statement reading one of them takes the lock
 * again on a new session and loads the files whose tables are gone again, before it runs.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type pg from 'pg';
import { TidemarkError } from '../../errors.js';
import type { FileFormat, FileLayout } from '../engine.js';
import { copyFromFile } from './copy-from.js';
import { postgresDialect as d } from './dialect.js';
import { readCsvHeader } from '../../io/csv-header.js';
import { gzipError, isGzipError } from '../../io/gzip.js';
import { fileTableName, ownerLockKey, TRY_LOCK_SQL } from './file-table-owner.js';

interface FileTable {
  qualified: string;
  file: string;
  format: FileFormat;
  header?: string[];
  layout: FileLayout;
  loaded: boolean;
  loading?: Promise<void>;
}

/** The session holding an instance's owner lock; `lost` once it ended without the engine closing it. */
interface OwnerSession {
  client: pg.Client;
  lost: boolean;
}

export class FileTables {
  private readonly instance = randomBytes(4).toString('hex');
  private readonly byKey = new Map<string, FileTable>();
  private count = 0;
  private owner: OwnerSession | null = null;
  private owning: Promise<void> | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    /** A new, not yet connected session outside the pool: the owner lock keeps it for the engine's lifetime. */
    private readonly newSession: () => pg.Client,
  ) {}

  /** A SELECT reading `file`; the file is loaded by the first statement that runs it. */
  selectFrom(file: string, format: FileFormat, header?: string[], layout: FileLayout = {}): string {
    let stamp = 'missing';
    try {
      const st = statSync(file);
      stamp = `${st.size}:${st.mtimeMs}`;
    } catch {
      /* the load reports the error, when the SELECT is used */
    }
    const key = JSON.stringify([file, format, header ?? null, layout.gzip ?? false, layout.delimiter ?? ',', stamp]);
    let table = this.byKey.get(key);
    if (!table) {
      table = { qualified: d.table(this.schema, fileTableName(this.instance, ++this.count)), file, format, header, layout, loaded: false };
      this.byKey.set(key, table);
    }
    return `SELECT * FROM ${table.qualified}`;
  }

  /** Loads the registered files that `sql` reads and that are not loaded yet. */
  async loadFor(sql: string): Promise<void> {
    if (this.byKey.size === 0) return;
    const reads = [...this.byKey.values()].filter((table) => sql.includes(table.qualified));
    if (reads.length === 0) return;
    // Before a table is made, and before one is read: without the lock, gc may take them. A table
    // loaded earlier is still there while the session holding the lock is up, and that session says
    // when it is not: it is the lock. PostgreSQL releases a session-level advisory lock only when the
    // session ends, and a session the server ends (terminated, restarted) closes its connection, which
    // marks it lost here ('end', 'error' in takeOwnerLock) before gc in another process can have taken
    // the lock and dropped a table (several round trips of its own). Asking the session (a SELECT 1) on
    // every statement that reads a file told nothing more: the session may end just after answering
    // as well. A connection lost silently (the network) keeps the lock on the server until the server
    // drops the session; a statement reading a table gc dropped after that fails, and re-issuing the
    // command resumes it.
    await this.own();
    for (const table of reads) {
      if (table.loaded) continue;
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
    // Tables first, lock second: ending the session releases it.
    const owner = this.owner;
    this.owner = null;
    if (owner) await owner.client.end().catch(() => undefined);
  }

  /** Holds the owner lock: takes it the first time, and again after its session was lost. */
  private async own(): Promise<void> {
    if (this.owner && !this.owner.lost) return;
    this.owning ??= this.takeOwnerLock().finally(() => (this.owning = undefined));
    await this.owning;
  }

  private async takeOwnerLock(): Promise<void> {
    const lost = this.owner;
    this.owner = null;
    if (lost) await lost.client.end().catch(() => undefined);
    const client = this.newSession();
    const session: OwnerSession = { client, lost: false };
    // A checked-out session that fails emits 'error': handled here, or it would end the process.
    client.on('error', () => void (session.lost = true));
    client.on('end', () => void (session.lost = true));
    try {
      await client.connect();
      const { rows } = await client.query<{ locked: boolean }>(TRY_LOCK_SQL, ownerLockKey(this.instance));
      // Only another live engine with the same 4 random bytes, a gc dropping the tables of a dead one
      // that had them, or this engine's own lost session the server has not ended yet holds it.
      if (rows[0]?.locked !== true) {
        throw new TidemarkError('UNAVAILABLE', `another PostgreSQL session holds the file tables of id ${this.instance}`, {
          hint: 'run the command again: a new process picks another id',
        });
      }
    } catch (error) {
      await client.end().catch(() => undefined);
      if (error instanceof TidemarkError) throw error;
      const message = error instanceof Error ? error.message : String(error);
      throw new TidemarkError('UNAVAILABLE', `cannot open the PostgreSQL session that keeps this process's file tables: ${message.split('\n')[0]}`, { engineMessage: message }, { cause: error });
    }
    this.owner = session;
    // The old session's end released the lock: gc may have dropped tables meanwhile. Those gone are loaded again.
    if (lost) await this.forgetDropped();
  }

  private async forgetDropped(): Promise<void> {
    for (const table of this.byKey.values()) {
      if (!table.loaded) continue;
      const { rows } = await this.pool.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [table.qualified]);
      if (rows[0]?.present === true) continue;
      table.loaded = false;
      table.loading = undefined;
    }
  }

  private async load(table: FileTable): Promise<void> {
    let tmp: string | null = null;
    try {
      let csv = table.file;
      let columns: string[];
      // What COPY reads: the file itself, or the CSV a Parquet or NDJSON file was turned into (plain, comma-separated).
      let csvLayout = { gzip: table.layout.gzip ?? false, delimiter: table.layout.delimiter ?? ',' };
      if (table.format === 'csv') {
        columns = table.header?.length ? table.header : await readCsvHeader(table.file, { ...csvLayout, declaredDelimiter: false });
      } else {
        tmp = await mkdtemp(path.join(os.tmpdir(), 'tidemark-load-'));
        csv = path.join(tmp, 'data.csv');
        columns = await convertToCsv(table.file, table.format, csv, csvLayout.gzip);
        csvLayout = { gzip: false, delimiter: ',' };
      }
      const cols = columns.map((c) => d.quote(c));
      const client = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        // This instance holds the owner lock of the name: a table already there is a dead process's with the same id.
        await client.query(`DROP TABLE IF EXISTS ${table.qualified}`);
        await client.query(`CREATE UNLOGGED TABLE ${table.qualified} (${cols.map((c) => `${c} TEXT`).join(', ')})`);
        // FORCE_NULL: an empty field is NULL whether quoted or not, as DuckDB's read_csv reads it.
        const copy = `COPY ${table.qualified} (${cols.join(', ')}) FROM STDIN WITH (FORMAT csv, HEADER true, DELIMITER ${d.stringLiteral(csvLayout.delimiter)}, FORCE_NULL (${cols.join(', ')}))`;
        await copyFromFile(client, copy, csv, { gzip: csvLayout.gzip });
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch((e: Error) => (broken = e));
        throw error;
      } finally {
        client.release(broken);
      }
    } catch (error) {
      if (error instanceof TidemarkError) throw error;
      if (table.layout.gzip && isGzipError(error)) throw gzipError(path.basename(table.file), error);
      const message = error instanceof Error ? error.message : String(error);
      throw new TidemarkError('BAD_INPUT', `cannot load ${path.basename(table.file)} into PostgreSQL: ${message.split('\n')[0]}`, { engineMessage: message }, { cause: error });
    } finally {
      if (tmp) await rm(tmp, { recursive: true, force: true });
    }
  }
}


/** Writes a Parquet or NDJSON file (gzip-compressed when `gzip`) as CSV with a header, using an in-memory DuckDB; returns the column names. */
async function convertToCsv(file: string, format: Exclude<FileFormat, 'csv'>, out: string, gzip: boolean): Promise<string[]> {
  const { DuckDBInstance } = (await import('../duckdb/driver.js')).duckdb;
  const instance = await DuckDBInstance.create(':memory:');
  try {
    const conn = await instance.connect();
    try {
      const lit = (s: string) => `'${s.replace(/'/g, "''")}'`;
      const read = format === 'parquet' ? `read_parquet(${lit(file)})` : `read_json(${lit(file)}, format = 'newline_delimited'${gzip ? `, compression = 'gzip'` : ''})`;
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
