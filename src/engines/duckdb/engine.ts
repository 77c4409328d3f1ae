/**
 * DuckDB, embedded: the default engine. One DuckDB file admits one writing process, so the project
 * layer turns the driver's lock error into a message naming the holder.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { DuckDBConnection, DuckDBInstance, DuckDBType, DuckDBTypeId as TypeId } from '@duckdb/node-api';
import { duckdb } from './driver.js';
import { TidemarkError } from '../../errors.js';
import type { Capabilities, ColumnInfo, Connection, Db, Engine, FileFormat, FileLayout, Row } from '../engine.js';
import { Mutex } from '../mutex.js';
import { TRACE_SQL, traceSql } from '../trace.js';
import { missingStateTableError } from '../missing-state-table.js';
import { duckdbDialect } from './dialect.js';
import { openFailure, storageFailure } from './open-errors.js';
import { fileSystemError } from '../../io/fs-errors.js';
import { toPlain } from './values.js';

class DuckDbConnection implements Connection {
  private readonly mutex = new Mutex();
  constructor(private readonly conn: DuckDBConnection) {}

  query<T = Row>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.mutex.run(() => runQuery<T>(this.conn, sql, params));
  }

  exec(sql: string, params?: unknown[]): Promise<void> {
    return this.mutex.run(() => runExec(this.conn, sql, params));
  }

  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    return this.mutex.run(async () => {
      await runExec(this.conn, 'BEGIN TRANSACTION');
      const tx = new TransactionDb(this.conn);
      try {
        const result = await fn(tx);
        tx.done = true;
        await runExec(this.conn, 'COMMIT');
        return result;
      } catch (error) {
        tx.done = true;
        await runExec(this.conn, 'ROLLBACK').catch(() => undefined);
        throw error;
      } finally {
        for (const sql of tx.afterEnd) await runExec(this.conn, sql).catch(() => undefined);
      }
    });
  }

  async close(): Promise<void> {
    await this.mutex.run(async () => this.conn.closeSync());
  }
}

/** The connection as seen inside its transaction: statements run directly, in order. */
class TransactionDb implements Db {
  done = false;
  /** Session settings to restore once the transaction has ended (an aborted one accepts no SET). */
  readonly afterEnd: string[] = [];
  constructor(private readonly conn: DuckDBConnection) {}
  private check(): void {
    if (this.done) throw new TidemarkError('INTERNAL', 'transaction already finished');
  }
  query<T = Row>(sql: string, params?: unknown[]): Promise<T[]> {
    this.check();
    return runQuery<T>(this.conn, sql, params);
  }
  exec(sql: string, params?: unknown[]): Promise<void> {
    this.check();
    return runExec(this.conn, sql, params);
  }
  transaction<T>(): Promise<T> {
    throw new TidemarkError('INTERNAL', 'nested transactions are not supported');
  }
}

async function runQuery<T>(conn: DuckDBConnection, sql: string, params?: unknown[]): Promise<T[]> {
  const started = performance.now();
  try {
    const reader = await conn.runAndReadAll(sql, params as never);
    const rows = toRows<T>(reader.deduplicatedColumnNames(), reader.columnTypes(), reader.getColumns(), reader.currentRowCount);
    if (TRACE_SQL) traceSql(sql, started, rows.length);
    return rows;
  } catch (error) {
    if (TRACE_SQL) traceSql(`(failed) ${sql}`, started);
    throw sqlError(error, sql);
  }
}

/**
 * Builds row objects column by column: text, boolean and small numeric columns arrive as plain JS
 * values and are copied as they are; only the others go through `toPlain`. State reads of thousands
 * of partitions are a large share of planning time, so this matters.
 */
function toRows<T>(names: string[], types: DuckDBType[], columns: unknown[][], count: number): T[] {
  const rows: Record<string, unknown>[] = Array.from({ length: count }, () => ({}));
  for (let j = 0; j < names.length; j++) {
    const name = names[j];
    const values = columns[j];
    const plain = PLAIN_TYPES.has(types[j].typeId);
    for (let i = 0; i < count; i++) rows[i][name] = plain ? (values[i] ?? null) : toPlain(values[i]);
  }
  return rows as T[];
}

/** 2^24 groups at most in a perfect hash aggregate: a few hundred MB for a count, across threads. */
const DENSE_KEY_BITS = 24;

/**
 * DuckDB's catalog calls its 4-byte float FLOAT, the name that means an 8-byte double on PostgreSQL:
 * reported as REAL, the name the config and PostgreSQL use for it, so the types compare alike.
 */
function portableType(type: string): string {
  return type === 'FLOAT' ? 'REAL' : type;
}

/** Names that need no escaping inside pragma_table_info's quoted "schema"."table" argument. */
const SIMPLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

const PLAIN_TYPES = new Set<TypeId>([
  duckdb.DuckDBTypeId.VARCHAR,
  duckdb.DuckDBTypeId.BOOLEAN,
  duckdb.DuckDBTypeId.INTEGER,
  duckdb.DuckDBTypeId.SMALLINT,
  duckdb.DuckDBTypeId.TINYINT,
  duckdb.DuckDBTypeId.DOUBLE,
  duckdb.DuckDBTypeId.FLOAT,
]);

async function runExec(conn: DuckDBConnection, sql: string, params?: unknown[]): Promise<void> {
  const started = performance.now();
  try {
    await conn.run(sql, params as never);
    if (TRACE_SQL) traceSql(sql, started);
  } catch (error) {
    throw sqlError(error, sql);
  }
}

/** The catalog error of pragma_table_info for a table (or its schema) that does not exist. */
function isMissingRelation(error: unknown): boolean {
  const message = String((error instanceof TidemarkError ? error.details.engineMessage : undefined) ?? (error instanceof Error ? error.message : error));
  return /^Catalog Error: Table with name .* does not exist/.test(message);
}

function sqlError(error: unknown, sql = ''): TidemarkError {
  if (error instanceof TidemarkError) return error;
  const message = error instanceof Error ? error.message : String(error);
  // Tidemark's state schema in a DuckDB file is always `tidemark` (DuckDbEngine.stateSchema).
  const missing = /^Catalog Error: Table with name (\S+) does not exist/.exec(message);
  const damaged = missing && missingStateTableError('duckdb', sql, 'tidemark', missing[1], message);
  if (damaged) return damaged;
  const storage = storageFailure(message);
  if (storage) return storage;
  return new TidemarkError('SQL', firstLine(message), { engineMessage: message }, { cause: error });
}

/**
 * The one line an error is reported by. A CSV reading error's first line only names the line of the
 * file (`CSV Error on Line: 2`); what is wrong there (`Expected Number of Columns: 6 Found: 7`, an
 * unterminated quote, bytes that are not UTF-8) comes after the offending line's text, and is kept.
 */
function firstLine(message: string): string {
  const [first, ...rest] = message.split('\n');
  if (!/CSV Error on Line: \d+$/.test(first)) return first;
  const reason = rest.map((l) => l.trim()).find((l) => l && !l.startsWith('Original Line:') && !l.startsWith('Possible'));
  return reason ? `${first}: ${reason}` : first;
}

export class DuckDbEngine implements Engine {
  readonly kind = 'duckdb';
  readonly capabilities: Capabilities = { multiWriter: false, threadsPerConnection: false, memoryLimit: true, typedFiles: true, unionBatches: true };
  readonly dialect = duckdbDialect;
  readonly dataSchema = 'main';
  readonly stateSchema = 'tidemark';
  readonly historySchema = 'tidemark_history';
  readonly stagingSchema = 'tidemark_staging';

  private constructor(
    private readonly instance: DuckDBInstance,
    private readonly main: DuckDbConnection,
    private readonly extra: Set<DuckDbConnection>,
    /** Opened with access_mode READ_ONLY: DuckDB refuses every write (see open). */
    readonly readOnly: boolean,
  ) {}

  /**
   * `readOnly` opens the file with DuckDB's `access_mode = 'READ_ONLY'`: nothing is created (not the
   * folder, not the file), every writing statement is refused, the write-ahead log a writer left is
   * replayed in memory and left as it is, and the lock taken is a shared one: read-only openers in
   * other processes are admitted, a writer is not (nor is a read-only opener while a writer holds it).
   */
  static async open(file: string, options: { threads?: number; readOnly?: boolean } = {}): Promise<DuckDbEngine> {
    if (file !== ':memory:' && !options.readOnly) {
      try {
        mkdirSync(path.dirname(file), { recursive: true });
      } catch (error) {
        throw fileSystemError(error, path.dirname(file), 'create', 'the folder of the database') ?? error;
      }
    }
    let instance: DuckDBInstance;
    try {
      const config: Record<string, string> = {};
      if (options.threads) config.threads = String(options.threads);
      if (options.readOnly) config.access_mode = 'READ_ONLY';
      instance = await duckdb.DuckDBInstance.create(file, config);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      // The same words whichever side is read-only: a read-only opener refused by a writer, or a
      // writer refused by read-only holders (DuckDB then names one of them).
      const lock = /Conflicting lock is held in (.*?) \(PID (\d+)\)/.exec(message);
      if (lock) {
        throw new TidemarkError('LOCKED', `the project's database is held by another process (pid ${lock[2]})`, { pid: Number(lock[2]), file });
      }
      throw openFailure(file, error);
    }
    const main = new DuckDbConnection(await instance.connect());
    return new DuckDbEngine(instance, main, new Set(), Boolean(options.readOnly));
  }

  query<T = Row>(sql: string, params?: unknown[]): Promise<T[]> {
    return this.main.query<T>(sql, params);
  }
  exec(sql: string, params?: unknown[]): Promise<void> {
    return this.main.exec(sql, params);
  }
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    return this.main.transaction(fn);
  }

  async connect(options: { threads?: number; memoryLimit?: string } = {}): Promise<Connection> {
    const conn = new DuckDbConnection(await this.instance.connect());
    // DuckDB's thread and memory settings are per database instance, not per connection; a pool's
    // limits are applied by the scheduler (slots) rather than here. See capabilities.threadsPerConnection.
    void options;
    this.extra.add(conn);
    const close = conn.close.bind(conn);
    conn.close = async () => {
      this.extra.delete(conn);
      await close();
    };
    return conn;
  }

  /**
   * DuckDB's `threads` and `memory_limit` belong to the database instance: every connection shares
   * them. A dedicated connection applies them so that a busy main connection never delays a change.
   */
  async setInstanceLimits(limits: { threads?: number; memoryLimit?: string }): Promise<void> {
    if (!this.settings) this.settings = new DuckDbConnection(await this.instance.connect());
    await this.settings.exec(limits.threads ? `SET threads = ${Math.floor(limits.threads)}` : 'RESET threads');
    const memory = limits.memoryLimit && /^\d+(\.\d+)?\s*[KMGT]i?B$/i.test(limits.memoryLimit) ? limits.memoryLimit : undefined;
    await this.settings.exec(memory ? `SET memory_limit = '${memory}'` : 'RESET memory_limit');
  }
  private settings: DuckDbConnection | null = null;

  /**
   * perfect_ht_threshold (bits, default 12) is a session setting, so it is raised on `db`'s connection
   * only, and restored after `fn`: by then the transaction `db` may be in can be aborted, and an
   * aborted transaction refuses SET, so the restore then waits for the transaction's end.
   */
  async withDenseKeyAggregation<T>(db: Db, fn: () => Promise<T>): Promise<T> {
    const [{ bits }] = await db.query<{ bits: number | string }>(`SELECT CAST(current_setting('perfect_ht_threshold') AS INTEGER) AS bits`);
    if (Number(bits) >= DENSE_KEY_BITS) return fn();
    await db.exec(`SET perfect_ht_threshold = ${DENSE_KEY_BITS}`);
    const restore = `SET perfect_ht_threshold = ${Number(bits)}`;
    try {
      return await fn();
    } finally {
      await db.exec(restore).catch(() => {
        if (db instanceof TransactionDb) db.afterEnd.push(restore);
      });
    }
  }

  /**
   * A table's or view's columns, or null when it does not exist. information_schema.columns is a view
   * over every column of every table (~4 ms here), and duckdb_tables() costs ~2 ms (it sizes every
   * table), while a run asks many times: simple names are read with pragma_table_info alone (~1 ms),
   * a missing relation being its catalog error. A catalog error is raised while binding, before
   * anything runs, so it leaves a surrounding transaction usable (test/integration/model-batch-statements.test.ts).
   */
  async columns(schema: string, table: string, db: Db = this.main): Promise<ColumnInfo[] | null> {
    if (!SIMPLE_NAME.test(schema) || !SIMPLE_NAME.test(table)) {
      const rows = await db.query<{ column_name: string; data_type: string }>(
        `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
        [schema, table],
      );
      return rows.length ? rows.map((r) => ({ name: r.column_name, type: portableType(r.data_type) })) : null;
    }
    let rows: { name: string; type: string }[];
    try {
      rows = await db.query<{ name: string; type: string }>(`SELECT name, type FROM pragma_table_info('"${schema}"."${table}"') ORDER BY cid`);
    } catch (error) {
      if (isMissingRelation(error)) return null;
      throw error;
    }
    return rows.map((r) => ({ name: r.name, type: portableType(r.type) }));
  }

  async describeQuery(db: Db, sql: string): Promise<ColumnInfo[]> {
    // Wrapped as a subquery, as the staging insert reads it: DuckDB's driver runs every statement of a
    // string, so a bare `DESCRIBE ${sql}` would execute whatever follows a `;` in it. The newlines keep
    // a trailing `-- comment` from swallowing the closing parenthesis.
    const rows = await db.query<{ column_name: string; column_type: string }>(`DESCRIBE SELECT * FROM (\n${sql}\n)`);
    return rows.map((r) => ({ name: r.column_name, type: portableType(r.column_type) }));
  }

  readFileSql(file: string, format: FileFormat, header?: string[], layout: FileLayout = {}): string {
    const f = this.dialect.stringLiteral(file);
    // Always said, never left to the extension: DuckDB reads `x.csv.gzip` as plain text (no rows) otherwise.
    const gzip = layout.gzip ? `, compression = 'gzip'` : '';
    const delim = this.dialect.stringLiteral(layout.delimiter ?? ',');
    if (format === 'csv' && header?.length) {
      const columns = header.map((c) => `${this.dialect.stringLiteral(c)}: 'VARCHAR'`).join(', ');
      return `SELECT * FROM read_csv(${f}, header = true, auto_detect = false, delim = ${delim}, quote = '"', escape = '"', columns = {${columns}}${gzip})`;
    }
    if (format === 'parquet') return `SELECT * FROM read_parquet(${f})`;
    if (format === 'ndjson') return `SELECT * FROM read_json(${f}, format = 'newline_delimited'${gzip})`;
    // Without a header read beforehand, DuckDB sniffs the dialect, unless the delimiter is known.
    return `SELECT * FROM read_csv(${f}, header = true${layout.delimiter ? `, delim = ${delim}` : ''}${gzip})`;
  }

  async close(): Promise<void> {
    for (const c of [...this.extra]) await c.close();
    await this.settings?.close();
    await this.main.close();
    this.instance.closeSync();
  }
}
