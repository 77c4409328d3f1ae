/**
 * The narrow seam between Tidemark and a SQL engine. Everything above it is engine-agnostic: code
 * asks `engine.capabilities`, never the engine's name. Only src/engines/duckdb imports the DuckDB
 * driver and only src/engines/postgres imports pg (src/engines/postgres/file-tables.ts also uses
 * DuckDB, only to read Parquet/NDJSON files that PostgreSQL cannot read).
 */
import type { Grain } from '../core/grain.js';

export type Row = Record<string, unknown>;

export interface Capabilities {
  /** Several processes may write at once (Postgres); DuckDB admits one writing process per file. */
  multiWriter: boolean;
  /** Thread count can be bounded per connection (else it is per database instance). */
  threadsPerConnection: boolean;
  /** The engine can enforce a memory limit. */
  memoryLimit: boolean;
  /** Data files keep their column types when read (Parquet/NDJSON on DuckDB); else they arrive as text. */
  typedFiles: boolean;
  /**
   * A batch of partitions computes fastest as ONE `INSERT … SELECT … UNION ALL …` (DuckDB runs the
   * parts of one statement in parallel); else as one INSERT per partition in the batch's transaction
   * (PostgreSQL plans each partition's aggregate better alone: ~8% faster in the (a) benchmark).
   */
  unionBatches: boolean;
}

/** A connection or a transaction on one: run SQL with `$1`-style parameters. */
export interface Db {
  query<T = Row>(sql: string, params?: unknown[]): Promise<T[]>;
  exec(sql: string, params?: unknown[]): Promise<void>;
  /** Runs `fn` in a transaction; rolls back if it throws. Not re-entrant. */
  transaction<T>(fn: (tx: Db) => Promise<T>): Promise<T>;
}

export interface Connection extends Db {
  close(): Promise<void>;
}

export interface ColumnInfo {
  name: string;
  type: string;
}

export type FileFormat = 'csv' | 'parquet' | 'ndjson';

/** How a data file's bytes are laid out beyond its format (decided from its name and config: src/io/data-file-layout.ts). */
export interface FileLayout {
  /** gzip-compressed: the engine decompresses it as it reads. */
  gzip?: boolean;
  /** CSV: the field delimiter (one character); ',' when not given. Quoting is always the double quote. */
  delimiter?: string;
}

export interface Dialect {
  quote(identifier: string): string;
  /** `schema.table`, both quoted. */
  table(schema: string, name: string): string;
  /** A typed literal for a window bound: DATE '2026-03-07' or TIMESTAMP '2026-03-07 13:00:00'. */
  windowLiteral(value: string, grain: Grain): string;
  /** The engine's spelling of a portable column type. */
  columnType(type: string): string;
  /** An aggregate over rows giving an order-independent checksum of `columns` (as text). */
  checksum(columns: string[]): string;
  /** SQL giving the partition key (ISO text) at `grain` of `expr`, an already-quoted column expression. */
  partitionKey(expr: string, grain: Grain): string;
  /**
   * SQL giving the start of `expr`'s partition window at `grain`, comparable with windowLiteral: a
   * join key that costs no text per row (partitionKey does).
   */
  partitionStart(expr: string, grain: Grain): string;
  /**
   * The values of `exprs` as one JSON array text: many text columns of many rows cost the driver one
   * string per row instead of one per value (reading 100k audit records).
   */
  jsonArrayText(exprs: string[]): string;
  /** A string literal (only for constants Tidemark itself produces; user values are parameters). */
  stringLiteral(value: string): string;
  /**
   * A relation (for FROM, `alias.column` or plain column names) of the rows in `param`, a parameter
   * (e.g. `$1`) holding ONE JSON array of objects (engines/json-rows.ts `jsonRowsParam`), with the
   * `columns` as typed columns; a key missing from an object reads as NULL. Many rows cost the driver
   * one text value instead of one bound value per cell (a 1,095-partition publish's state writes: DuckDB
   * ~5× faster, PostgreSQL ~2.5×).
   */
  jsonRows(param: string, columns: readonly JsonColumn[], alias: string): string;
}

/** A column of a `jsonRows` relation: a lowercase SQL name (callers write it unquoted) and its type. */
export interface JsonColumn {
  name: string;
  type: JsonColumnType;
}

/** The column types a `jsonRows` relation can have (both engines read these from JSON the same way). */
export type JsonColumnType = 'VARCHAR' | 'INTEGER' | 'BIGINT' | 'BOOLEAN' | 'DOUBLE';

export interface Engine extends Db {
  readonly kind: string;
  readonly capabilities: Capabilities;
  readonly dialect: Dialect;
  /** Schema holding live dataset tables. */
  readonly dataSchema: string;
  /** Schema names for Tidemark's own tables. */
  readonly stateSchema: string;
  readonly historySchema: string;
  readonly stagingSchema: string;
  /** A separate connection, e.g. for a pool's tasks with bounded threads. */
  connect(options?: { threads?: number; memoryLimit?: string }): Promise<Connection>;
  /** Columns of a table, or null if it does not exist. Pass `db` when inside a transaction. */
  columns(schema: string, table: string, db?: Db): Promise<ColumnInfo[] | null>;
  /** Output columns of a SELECT without running it; engine errors surface as SQL errors. */
  describeQuery(db: Db, sql: string): Promise<ColumnInfo[]>;
  /**
   * A SELECT that reads a data file with the engine (used by ingest). For CSV, `header` (the column
   * names, read from the file's first line) lets the engine skip type sniffing: every column is read
   * as text and cast to the declared type in SQL, which is both faster and stricter. An engine that
   * cannot read the client's files (PostgreSQL) returns a SELECT over a table that it fills from the
   * file when a statement first uses it. `layout`: gzip and the CSV delimiter.
   */
  readFileSql(file: string, format: FileFormat, header?: string[], layout?: FileLayout): string;
  /**
   * Multi-writer engines: takes the lock named `key`, waiting for it, held until `tx` ends. Serialises
   * work across processes that must not interleave: state-store migrations (several processes may open
   * the same store at once), numbering outbox events (state/outbox.ts).
   */
  lockTransaction?(tx: Db, key: string): Promise<void>;
  /**
   * Multi-writer engines: takes the lock named `key` for the session of `conn`, without waiting;
   * false while another session holds it. Unlike a transaction's lock it is held across transactions,
   * until `unlockSession` or until the session ends: a process that dies releases it with its
   * connection. Lets one process at a time do work made of many transactions and side effects
   * (delivering a consumer's events, consumers/claims.ts). A session that holds a key may take it
   * again (and must then release it as often).
   */
  tryLockSession?(conn: Connection, key: string): Promise<boolean>;
  unlockSession?(conn: Connection, key: string): Promise<void>;
  /**
   * Refreshes the planner statistics of `table` (schema-qualified, quoted) after a bulk load, for
   * engines that plan joins from them (PostgreSQL: a new staging table has none).
   */
  analyze?(db: Db, table: string): Promise<void>;
  /**
   * Engines whose thread and memory limits are per database instance (DuckDB): sets them for the whole
   * instance; `undefined` restores the engine's default. Used by the scheduler (issue 7).
   */
  setInstanceLimits?(limits: { threads?: number; memoryLimit?: string }): Promise<void>;
  /**
   * Runs `fn`, whose queries run on `db`, with the engine allowed to aggregate over a large but dense
   * integer key range through a directly indexed table (DuckDB's perfect hash aggregation, which it only
   * uses when column statistics bound the range; at most 2^24 groups, so memory stays bounded). For
   * one-off aggregates over every staged key, e.g. the duplicate-key check of a large ingest.
   */
  withDenseKeyAggregation?<T>(db: Db, fn: () => Promise<T>): Promise<T>;
  close(): Promise<void>;
}
