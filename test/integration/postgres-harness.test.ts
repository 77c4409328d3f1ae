// Proves the test harness gives us a real PostgreSQL server (see test/helpers/global-setup.ts),
// talking to it with the machine's psql so this test needs no npm client.
import { execFile } from 'node:child_process';
import { describe, expect, inject, it } from 'vitest';
import { freshPgSchemaName } from '../helpers/pg-schema.js';
import { postgresTestsWanted } from '../helpers/postgres.js';

const pgUrl = inject('pgUrl');

function psql(url: string, sql: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      'psql',
      ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql],
      { timeout: 30_000, encoding: 'utf8' },
      (error, stdout, stderr) => {
        if (error) reject(new Error(`psql failed for ${JSON.stringify(sql)}: ${error.message}\n${stderr}`));
        else resolve(stdout.trim());
      },
    );
  });
}

const skipReason = 'skipped: no pgUrl (TIDEMARK_TEST_ENGINES excludes postgres)';

describe('PostgreSQL test harness', () => {
  it.skipIf(!pgUrl)(pgUrl ? 'answers select 1' : `answers select 1 (${skipReason})`, async () => {
    expect(await psql(pgUrl, 'select 1')).toBe('1');
  });

  it.skipIf(!pgUrl)(
    pgUrl ? 'listens on 127.0.0.1 only' : `listens on 127.0.0.1 only (${skipReason})`,
    async () => {
      expect(await psql(pgUrl, 'show listen_addresses')).toBe('127.0.0.1');
      expect(new URL(pgUrl).hostname).toBe('127.0.0.1');
    },
  );

  it.skipIf(!pgUrl)(
    pgUrl ? 'connects to tidemark_test as postgres, UTF8' : `connects to tidemark_test as postgres, UTF8 (${skipReason})`,
    async () => {
      const row = await psql(pgUrl, "select current_database() || '|' || current_user || '|' || pg_encoding_to_char(encoding) from pg_database where datname = current_database()");
      expect(row).toBe('tidemark_test|postgres|UTF8');
    },
  );

  it.skipIf(!pgUrl)(
    pgUrl ? 'accepts a schema named by freshPgSchemaName' : `accepts a schema named by freshPgSchemaName (${skipReason})`,
    async () => {
      const schema = freshPgSchemaName('harness');
      await psql(pgUrl, `create schema ${schema}; create table ${schema}.t (x int); insert into ${schema}.t values (42)`);
      expect(await psql(pgUrl, `select x from ${schema}.t`)).toBe('42');
      await psql(pgUrl, `drop schema ${schema} cascade`);
    },
  );
});

describe('freshPgSchemaName', () => {
  it('returns unique, valid lowercase identifiers within 63 bytes', () => {
    const names = new Set<string>();
    for (let i = 0; i < 200; i++) names.add(freshPgSchemaName('My-Test.Case'));
    expect(names.size).toBe(200);
    for (const name of names) {
      expect(name).toMatch(/^t_my_test_case_[0-9a-f]{12}$/);
    }
    const long = freshPgSchemaName('x'.repeat(200));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z_][a-z0-9_]*$/);
    expect(freshPgSchemaName('---')).toMatch(/^t_[0-9a-f]{12}$/);
  });
});

describe('postgresTestsWanted', () => {
  it('reads TIDEMARK_TEST_ENGINES', () => {
    expect(postgresTestsWanted(undefined)).toBe(true);
    expect(postgresTestsWanted('')).toBe(true);
    expect(postgresTestsWanted('duckdb')).toBe(false);
    expect(postgresTestsWanted('duckdb,postgres')).toBe(true);
    expect(postgresTestsWanted('DuckDB Postgres')).toBe(true);
  });
});
