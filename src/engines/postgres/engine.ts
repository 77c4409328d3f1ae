/**
 * PostgreSQL: the engine for teams. Several processes (and machines) may write at once; state lives
 * in schema `tidemark`, datasets in a configurable schema (default `tidemark_data`). Statements go
 * through a pg.Pool; a transaction or a `connect()` connection holds one pooled client of its own.
 */
import pg from 'pg';
import { TidemarkError } from '../../errors.js';
import type { Capabilities, ColumnInfo, Connection, Db, Engine, FileFormat, FileLayout, Row } from '../engine.js';
import { Mutex } from '../mutex.js';
import { TRACE_SQL, traceSql } from '../trace.js';
import { missingStateTableError } from '../missing-state-table.js';
import { knownTypeName } from './column-types.js';
import { postgresDialect } from './dialect.js';
import { FileTables } from './file-tables.js';
import { pgTypes } from './values.js';

/** Anything that can run a statement: the pool or one client. */
type Target = pg.Pool | pg.PoolClient;

async function run(target: Target, files: FileTables, sql: string, params?: unknown[]): Promise<pg.QueryResult> {
  await files.loadFor(sql);
  const started = performance.now();
  try {
    const result = await target.query(sql, params);
    if (TRACE_SQL) traceSql(sql, started, result.rows?.length);
    return result;
  } catch (error) {
    throw sqlError(error, sql);
  }
}

function sqlError(error: unknown, sql = ''): TidemarkError {
  if (error instanceof TidemarkError) return error;
  const e = error as Partial<pg.DatabaseError> & Error;
  const message = e?.message ?? String(error);
  // undefined_table, in a schema named as Tidemark's state schemas are (`tidemark`, or prefixed: PostgresEngine).
  const missing = e?.code === '42P01' ? /^relation "([^".]*tidemark)\.([^"]+)" does not exist/.exec(message) : null;
  const damaged = missing && missingStateTableError('postgres', sql, missing[1], missing[2], message);
  if (damaged) return damaged;
  return new TidemarkError('SQL', message.split('\n')[0], { engineMessage: [message, e.detail, e.hint].filter(Boolean).join('\n'), sqlState: e.code }, { cause: error });
}

/** query/exec over some target; `result` keeps the field descriptions that describeQuery needs. */
abstract class PgDb implements Db {
  abstract result(sql: string, params?: unknown[]): Promise<pg.QueryResult>;
  abstract transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;

  async query<T = Row>(sql: string, params?: unknown[]): Promise<T[]> {
    return (await this.result(sql, params)).rows as T[];
  }

  async exec(sql: string, params?: unknown[]): Promise<void> {
    await this.result(sql, params);
  }
}

/** BEGIN … COMMIT on `client`, ROLLBACK if `fn` throws. The caller owns the client. */
async function inTransaction<T>(client: pg.PoolClient, files: FileTables, fn: (tx: Db) => Promise<T>, onBroken: (error: Error) => void): Promise<T> {
  await run(client, files, 'BEGIN');
  const tx = new PgTransaction(client, files);
  try {
    const value = await fn(tx);
    tx.done = true;
    await run(client, files, 'COMMIT');
    return value;
  } catch (error) {
    tx.done = true;
    // After a failed COMMIT the server has already rolled back; ROLLBACK then only warns. If ROLLBACK
    // itself fails the connection is gone, and the client must not go back to the pool.
    await client.query('ROLLBACK').catch(onBroken);
    throw error;
  }
}

/** A client inside its transaction: statements run directly, in order. */
class PgTransaction extends PgDb {
  done = false;
  constructor(
    private readonly client: pg.PoolClient,
    private readonly files: FileTables,
  ) {
    super();
  }
  result(sql: string, params?: unknown[]): Promise<pg.QueryResult> {
    if (this.done) return Promise.reject(new TidemarkError('INTERNAL', 'transaction already finished'));
    return run(this.client, this.files, sql, params);
  }
  transaction<T>(): Promise<T> {
    return Promise.reject(new TidemarkError('INTERNAL', 'nested transactions are not supported'));
  }
}

/** A dedicated pooled client; the mutex keeps a transaction's statements from interleaving with others. */
class PgConnection extends PgDb implements Connection {
  private readonly mutex = new Mutex();
  private released = false;
  private broken: Error | undefined;
  constructor(
    private readonly client: pg.PoolClient,
    private readonly files: FileTables,
    private readonly onClose: (c: PgConnection) => void,
  ) {
    super();
  }
  result(sql: string, params?: unknown[]): Promise<pg.QueryResult> {
    return this.mutex.run(() => run(this.client, this.files, sql, params));
  }
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    return this.mutex.run(() => inTransaction(this.client, this.files, fn, (e) => (this.broken = e)));
  }
  async close(): Promise<void> {
    await this.mutex.run(async () => {
      if (this.released) return;
      this.released = true;
      this.client.release(this.broken);
      this.onClose(this);
    });
  }
}

export interface PostgresOptions {
  /**
   * Prepended to all four schema names (data, state, history, staging). It exists for test
   * isolation: each test gets its own schemas in one shared database. Defaults to the environment
   * variable TIDEMARK_PG_SCHEMA_PREFIX (e.g. `t_abc_`), else none.
   */
  schemaPrefix?: string;
}

const PREFIX_RE = /^[a-z_][a-z0-9_]{0,46}$/;

export class PostgresEngine extends PgDb implements Engine {
  readonly kind = 'postgres';
  readonly capabilities: Capabilities = { multiWriter: true, threadsPerConnection: false, memoryLimit: false, typedFiles: false, unionBatches: false };
  readonly dialect = postgresDialect;
  readonly dataSchema: string;
  readonly stateSchema: string;
  readonly historySchema: string;
  readonly stagingSchema: string;
  private readonly files: FileTables;
  private readonly extra = new Set<PgConnection>();

  private constructor(
    private readonly pool: pg.Pool,
    session: pg.ClientConfig,
    dataSchema: string,
    prefix: string,
  ) {
    super();
    this.dataSchema = `${prefix}${dataSchema}`;
    this.stateSchema = `${prefix}tidemark`;
    this.historySchema = `${prefix}tidemark_history`;
    this.stagingSchema = `${prefix}tidemark_staging`;
    // The file tables' owner lock lives on a session outside the pool: it takes none of the pool's clients.
    this.files = new FileTables(pool, this.stagingSchema, () => new pg.Client({ ...session, application_name: 'tidemark file tables' }));
  }

  static async open(url: string, dataSchema = 'tidemark_data', options: PostgresOptions = {}): Promise<PostgresEngine> {
    const prefix = options.schemaPrefix ?? process.env.TIDEMARK_PG_SCHEMA_PREFIX ?? '';
    if (prefix !== '' && !PREFIX_RE.test(prefix)) {
      throw new TidemarkError('CONFIG', `invalid PostgreSQL schema prefix '${prefix}' (TIDEMARK_PG_SCHEMA_PREFIX)`, { hint: 'lowercase letters, digits and _, at most 47 characters' });
    }
    const where = describeUrl(url);
    // node-postgres reads a libpq `host=… dbname=…` string as a URL and fails on a made-up host name.
    if (!/^postgres(ql)?:\/\//i.test(url.trim())) {
      throw new TidemarkError('CONFIG', 'the PostgreSQL connection must be a URL: postgres://user:password@host:5432/database', {
        hint: 'set engine.url in tidemark.yaml (or TIDEMARK_DATABASE_URL) in URL form; key=value connection strings are not accepted',
      });
    }
    let pool: pg.Pool;
    // Sessions run in UTC so timestamps read back and date arithmetic never depend on the server's zone.
    const session: pg.ClientConfig = { connectionString: url, types: pgTypes, options: '-c TimeZone=UTC', application_name: 'tidemark' };
    try {
      pool = new pg.Pool({ ...session, max: 10 });
    } catch (error) {
      throw new TidemarkError('CONFIG', `invalid PostgreSQL URL (${where}): ${(error as Error).message}`, { hint: 'engine.url must look like postgres://user:password@host:5432/database' });
    }
    // An idle client whose connection drops emits 'error' on the pool; unhandled it would end the process.
    // The pool discards that client and the next statement gets a fresh one.
    pool.on('error', () => undefined);
    try {
      await pool.query('SELECT 1');
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw connectError(error, where, url);
    }
    return new PostgresEngine(pool, session, dataSchema, prefix);
  }

  result(sql: string, params?: unknown[]): Promise<pg.QueryResult> {
    return run(this.pool, this.files, sql, params);
  }

  async transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T> {
    const client = await this.checkout();
    let broken: Error | undefined;
    try {
      return await inTransaction(client, this.files, fn, (e) => (broken = e));
    } finally {
      client.release(broken);
    }
  }

  async connect(options: { threads?: number; memoryLimit?: string } = {}): Promise<Connection> {
    // PostgreSQL has no per-connection thread or memory limit that maps onto these; see capabilities.
    void options;
    const conn = new PgConnection(await this.checkout(), this.files, (c) => this.extra.delete(c));
    this.extra.add(conn);
    return conn;
  }

  /** Serialises state-store migrations across processes: the lock is held until `tx` ends. */
  /**
   * A transaction-level advisory lock on `tidemark:KEY:STATE_SCHEMA`: two projects sharing a database
   * never contend, and the migrations' key is the one earlier versions took, so an older and a newer
   * binary migrating one store at once still take turns.
   */
  async lockTransaction(tx: Db, key: string): Promise<void> {
    await tx.exec('SELECT pg_advisory_xact_lock(hashtext($1))', [`tidemark:${key}:${this.stateSchema}`]);
  }

  /**
   * A session-level advisory lock keyed by (state schema, key): two projects sharing a database never
   * contend. The two 32-bit hashes may collide for two keys; the only cost is that they wait for each other.
   */
  async tryLockSession(conn: Connection, key: string): Promise<boolean> {
    const rows = await conn.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1), hashtext($2)) AS locked', [this.stateSchema, key]);
    return rows[0]?.locked === true;
  }

  async unlockSession(conn: Connection, key: string): Promise<void> {
    await conn.exec('SELECT pg_advisory_unlock(hashtext($1), hashtext($2))', [this.stateSchema, key]);
  }

  async analyze(db: Db, table: string): Promise<void> {
    await db.exec(`ANALYZE ${table}`);
  }

  async columns(schema: string, table: string, db: Db = this): Promise<ColumnInfo[] | null> {
    const rows = await db.query<{ name: string; oid: number; typmod: number; formatted: string }>(
      `SELECT a.attname AS name, CAST(a.atttypid AS BIGINT) AS oid, a.atttypmod AS typmod, format_type(a.atttypid, a.atttypmod) AS formatted
       FROM pg_catalog.pg_attribute a
       JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
       JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
       ORDER BY a.attnum`,
      [schema, table],
    );
    if (!rows.length) return null;
    return rows.map((r) => ({ name: r.name, type: knownTypeName(Number(r.oid), Number(r.typmod)) ?? r.formatted.toUpperCase() }));
  }

  async describeQuery(db: Db, sql: string): Promise<ColumnInfo[]> {
    const target = db instanceof PgDb ? db : this;
    // One statement, as DuckDB's describeQuery takes it: model and check SQL come trimmed of trailing
    // semicolons (config/model-sql.ts). Newlines keep a trailing `-- comment` from swallowing the wrapper.
    const result = await target.result(`SELECT * FROM (\n${sql}\n) q LIMIT 0`);
    const columns: ColumnInfo[] = [];
    for (const f of result.fields) {
      let type = knownTypeName(f.dataTypeID, f.dataTypeModifier);
      if (type === null) {
        const rows = await target.query<{ t: string }>('SELECT format_type(CAST($1 AS OID), CAST($2 AS INTEGER)) AS t', [f.dataTypeID, f.dataTypeModifier]);
        type = rows[0].t.toUpperCase();
      }
      columns.push({ name: f.name, type });
    }
    return columns;
  }

  readFileSql(file: string, format: FileFormat, header?: string[], layout?: FileLayout): string {
    return this.files.selectFrom(file, format, header, layout);
  }

  async close(): Promise<void> {
    for (const c of [...this.extra]) await c.close();
    await this.files.dropAll();
    await this.pool.end();
  }

  private async checkout(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw sqlError(error);
    }
  }
}

/** host:port/database, never the password. */
function describeUrl(url: string): string {
  // Parsed, such a URL would name part of the password as its host.
  if (unencodedUserinfo(url)) return 'the configured URL';
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || '5432'}${u.pathname}`;
  } catch {
    return 'the configured URL';
  }
}

/**
 * True when the text between `scheme://` and the URL's last `@` (the user and password, as a person
 * wrote them) holds a character that ends an authority: the URL parser then sees another host. Only
 * asked after a failed connection, so a valid URL with an `@` further on is never refused for it.
 */
function unencodedUserinfo(url: string): boolean {
  const rest = url.trim().replace(/^postgres(ql)?:\/\//i, '');
  const at = rest.lastIndexOf('@');
  return at > 0 && /[/#?]/.test(rest.slice(0, at));
}

/**
 * Why the first connection failed, as a CLI exit code can tell it: a server that is down or cannot be
 * reached is a failure (exit 1) a scheduler may retry; a refused login or an unknown database is a
 * configuration error (exit 2) that retrying will not fix.
 */
function connectError(error: unknown, where: string, url: string): TidemarkError {
  // A password holding / # or ? unencoded ends the URL's authority early: the rest of the password is
  // then read as the host or port, and both the address and the driver's error would print part of it.
  if (unencodedUserinfo(url)) {
    return new TidemarkError('CONFIG', 'cannot connect to PostgreSQL: the URL does not parse as written: its user or password holds a character that must be percent-encoded', {
      hint: 'encode them in engine.url (tidemark.yaml) or TIDEMARK_DATABASE_URL: / → %2F, # → %23, ? → %3F, @ → %40, % → %25 (encodeURIComponent does it)',
    });
  }
  const e = error as { code?: string; message?: string };
  const message = `cannot connect to PostgreSQL at ${where}: ${e.message ?? String(error)}`;
  // SQLSTATE class 28 (invalid authorization), 3D000 (no such database), 42501 (no privilege to connect).
  if (typeof e.code === 'string' && (/^28/.test(e.code) || e.code === '3D000' || e.code === '42501')) {
    return new TidemarkError('CONFIG', message, { hint: 'check the user, password and database in engine.url (tidemark.yaml) or TIDEMARK_DATABASE_URL' });
  }
  return new TidemarkError('UNAVAILABLE', message, {
    hint: 'check that the server is running and reachable at that host and port (engine.url in tidemark.yaml or TIDEMARK_DATABASE_URL); nothing was changed, so the command can simply be retried',
  });
}
