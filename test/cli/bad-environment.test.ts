// The "bad environment" drill through the real CLI: the project or the machine is not in the state
// Tidemark expects (a hand-edited tidemark.yaml, a model file that is empty or holds two statements,
// a damaged warehouse, a folder it may not write, a full disk, data files in another dialect or
// damaged). Each case: the documented exit code, one `error:` line with a `hint:` naming the way forward, no stack
// trace, and the data and state exactly as before.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DuckDbEngine } from '../../src/engines/duckdb/engine.js';
import { BIN, builtShop, cleanup, cli, cliJson, sharedProject, readModel, snapshotState, tempDir, writeModel, type CliResult } from '../helpers/project.js';

const copies = sharedProject(() => builtShop());

/** One `error:` line, `hint:` lines matching `hint`, no stack trace, and the exit code. */
function expectRefusal(r: CliResult, exit: number, error: RegExp, hint: RegExp): void {
  expect(r.stderr).toMatch(error);
  expect(r.stderr.match(/^error: /gm)).toHaveLength(1);
  expect(r.stderr).toMatch(hint);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.code).toBe(exit);
}

const YAML = (dir: string) => path.join(dir, 'tidemark.yaml');
const editYaml = (dir: string, edit: (yaml: string) => string) => writeFileSync(YAML(dir), edit(readFileSync(YAML(dir), 'utf8')));
const backfillMonth = ['backfill', 'monthly_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'test', '--yes'];

describe('tidemark.yaml and model files edited by hand', () => {
  it('a webhook url that is not http(s) is refused at load, naming the line and what is expected', async () => {
    const dir = copies.fresh();
    const before = await snapshotState(dir);
    const original = readFileSync(YAML(dir), 'utf8');
    for (const url of ['ftp://127.0.0.1/invalidate', 'file:///tmp/invalidate', 'not a url']) {
      editYaml(dir, () => `${original}\nconsumers:\n  revenue_cache: { kind: webhook, url: "${url}" }\n`);
      const r = cli(dir, ['consumers', 'list']);
      expect(r.code, url).toBe(2);
      expect(r.stderr, url).toMatch(/^error: tidemark\.yaml:\d+: consumers\.revenue_cache\.url: expected an http:\/\/ or https:\/\/ address$/m);
    }
    writeFileSync(YAML(dir), original);
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('a consumer secret read from an unset variable is named plainly (the redactor turned it into `secret: *** variable …`)', async () => {
    const dir = copies.fresh();
    const before = await snapshotState(dir);
    const original = readFileSync(YAML(dir), 'utf8');
    editYaml(dir, (yaml) => `${yaml}\nconsumers:\n  revenue_cache: { kind: webhook, url: "http://127.0.0.1:9/invalidate", secret: "\${TM_TEST_UNSET_SECRET}" }\n`);
    const r = cli(dir, ['status']);
    expectRefusal(r, 2, /^error: tidemark\.yaml: consumers\.revenue_cache\.secret needs environment variable TM_TEST_UNSET_SECRET, which is not set$/m, /^hint: set and export TM_TEST_UNSET_SECRET in the shell that runs tidemark/m);
    expect(r.stderr).not.toContain('***');
    writeFileSync(YAML(dir), original);
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('a model with a second statement is refused before anything runs (its DROP TABLE used to run)', async () => {
    const dir = copies.fresh();
    const before = await snapshotState(dir);
    writeModel(dir, 'monthly_revenue', `${readModel(dir, 'monthly_revenue')};\nDROP TABLE orders`);
    const r = cli(dir, backfillMonth);
    expectRefusal(r, 2, /^error: models\/monthly_revenue\.sql holds more than one SQL statement$/m, /remove everything after the first ';'/);
    writeModel(dir, 'monthly_revenue', readModel(copies.base(), 'monthly_revenue'));
    expect(await snapshotState(dir)).toEqual(before);
  });

  it("a declared sql check is one query too: a second statement is refused at load, a trailing ';' is trimmed", async () => {
    const dir = copies.fresh();
    const before = await snapshotState(dir);
    const withCheck = (sql: string) => (yaml: string) =>
      yaml.replace(/(  monthly_revenue:\n    kind: model\n)/, `$1    checks: [{ sql: ${JSON.stringify(sql)} }]\n`);
    const original = readFileSync(YAML(dir), 'utf8');
    editYaml(dir, withCheck('SELECT * FROM {{ this }} WHERE revenue_usd_cents < 0; DROP TABLE orders'));
    expect(readFileSync(YAML(dir), 'utf8')).not.toBe(original);
    expectRefusal(cli(dir, backfillMonth), 2, /^error: tidemark\.yaml:\d+: datasets\.monthly_revenue\.checks\[0\]\.sql holds more than one SQL statement$/m, /remove everything after the first ';'/);
    writeFileSync(YAML(dir), original); // the snapshot loads the project
    expect(await snapshotState(dir)).toEqual(before);
    editYaml(dir, withCheck('SELECT * FROM {{ this }} WHERE revenue_usd_cents < 0;'));
    const ok = cli(dir, backfillMonth);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('an empty model (or one with only a comment) is a config error, not an internal one', () => {
    const dir = copies.fresh();
    writeModel(dir, 'monthly_revenue', '-- to do\n');
    expectRefusal(cli(dir, backfillMonth), 2, /^error: models\/monthly_revenue\.sql holds no SQL$/m, /write one SELECT/);
  });

  it('a trailing semicolon and a comment on the last line are fine', () => {
    const dir = copies.fresh();
    writeModel(dir, 'monthly_revenue', `${readModel(dir, 'monthly_revenue').trimEnd()}; -- monthly totals`);
    expect(cliJson(dir, backfillMonth).status).toBe('published');
  });

  it('tabs, duplicate keys and an empty file name the line and how to fix it', () => {
    const dir = copies.fresh();
    const yaml = readFileSync(YAML(dir), 'utf8');
    writeFileSync(YAML(dir), yaml.replace(/^name: shop$/m, '\tname: shop'));
    expectRefusal(cli(dir, ['status']), 2, /^error: tidemark\.yaml:\d+: Tabs are not allowed as indentation$/m, /indent with spaces/);
    writeFileSync(YAML(dir), yaml.replace(/^name: shop$/m, 'name: shop\nname: shop2'));
    expectRefusal(cli(dir, ['status']), 2, /^error: tidemark\.yaml:\d+: Map keys must be unique$/m, /the second 'name'/);
    writeFileSync(YAML(dir), '');
    expectRefusal(cli(dir, ['status']), 2, /^error: tidemark\.yaml is empty$/m, /tidemark init/);
  });

  it('a dataset name with a quote says what a name may be', () => {
    const dir = copies.fresh();
    editYaml(dir, (y) => y.replace(/^ {2}fx_rates:$/m, `  "fx'rates":`));
    expect(cli(dir, ['status']).stderr).toMatch(/datasets\.fx'rates: 'fx'rates' is not a valid name: expected an identifier/);
  });

  it('engine.path in a folder that does not exist is refused, not created (an unmounted volume)', () => {
    const dir = copies.fresh();
    editYaml(dir, (y) => y.replace('engine: { kind: duckdb }', 'engine: { kind: duckdb, path: mnt/warehouse/w.duckdb }'));
    expectRefusal(cli(dir, ['status']), 2, /engine\.path: folder .*mnt\/warehouse does not exist/, /mount the volume, or create the folder/);
    expect(existsSync(path.join(dir, 'mnt'))).toBe(false);
  });
});

describe('the warehouse file', () => {
  it('a truncated DuckDB file: exit 1, says it is damaged, points at the backup, and is left as it was', () => {
    const dir = copies.fresh();
    const file = path.join(dir, '.tidemark', 'warehouse.duckdb');
    truncateSync(file, 100_000);
    const r = cli(dir, ['status']);
    expectRefusal(r, 1, /cannot open DuckDB file .*warehouse\.duckdb: the file is damaged or is not a DuckDB database/, /restore .* from a backup/);
    expect(statSync(file).size).toBe(100_000);
  });

  it('a full disk (a file size limit) while publishing: exit 1 with a hint, nothing published, and a re-run converges', async () => {
    const dir = copies.fresh();
    const before = await snapshotState(dir);
    const fixes = ['2026-03-01', '2026-03-02', '2026-03-03'].map((d) => `data/orders/orders-${d}.csv`);
    for (const f of fixes) writeFileSync(path.join(dir, f), readFileSync(path.join(dir, f), 'utf8').replaceAll(',paid,', ',refunded,'));
    // bash's ulimit -f counts KiB: the write-ahead log of the publish outgrows it. SIGXFSZ is ignored
    // so the write fails with EFBIG, as on a full disk, instead of killing the process.
    const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 300; exec "$0" "$@"`, process.execPath, BIN, 'ingest', 'orders', ...fixes, '--project', dir], { cwd: dir, encoding: 'utf8', env: { ...process.env, TIDEMARK_ACTOR: 'test' } });
    expectRefusal({ code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }, 1, /^error: could not write the database: the disk is full/m, /free disk space/);
    expect(await snapshotState(dir)).toEqual(before);
    expect(cliJson(dir, ['ingest', 'orders', ...fixes]).status).toBe('published');
  });
});

/**
 * Runs the CLI as a user who cannot write the project. As root (CI containers) chmod stops nothing,
 * so root runs it as `nobody` with setpriv; without setpriv the case is skipped.
 */
function cliWithoutWriteAccess(dir: string, args: string[]): CliResult | null {
  const root = process.getuid?.() === 0;
  if (root && spawnSync('setpriv', ['--version']).status !== 0) return null;
  const prefix = root ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  // The temp folder holding the copy is private to its owner (mkdtemp): nobody may read, not write.
  if (root) chmodSync(path.dirname(dir), 0o755);
  if (!root) chmodSync(path.join(dir, '.tidemark'), 0o555);
  try {
    const [cmd, ...rest] = [...prefix, process.execPath, BIN, ...args, '--project', dir];
    const r = spawnSync(cmd, rest, { cwd: dir, encoding: 'utf8', env: { ...process.env, TIDEMARK_ACTOR: 'test' } });
    return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
  } finally {
    if (!root) chmodSync(path.join(dir, '.tidemark'), 0o755);
  }
}

describe('a project the user may not write', () => {
  // Read commands open such a file read-only (test/cli/read-only-warehouse.test.ts); a write command
  // is refused before it opens it.
  it('a write command names the file and the user, with what to check; exit 1', (ctx) => {
    const dir = copies.fresh();
    const r = cliWithoutWriteAccess(dir, ['run']);
    if (!r) return ctx.skip('running as root without setpriv: permissions cannot be taken away');
    expectRefusal(r, 1, /^error: the project's DuckDB file .*warehouse\.duckdb is read-only for user \S+.*, and this command writes it; nothing was done$/m, /as a user who may write .* \(ls -ld .*\), or on a writable copy/);
    expect(cliWithoutWriteAccess(dir, ['status'])!.code).toBe(0);
  });
});

describe('data files', () => {
  let dir: string;
  beforeAll(() => {
    dir = copies.fresh();
    mkdirSync(path.join(dir, 'in'));
  });
  const header = 'order_id,customer_id,amount_cents,currency,status,order_date';
  const write = (name: string, content: string | Buffer) => {
    writeFileSync(path.join(dir, 'in', name), content);
    return path.join('in', name);
  };

  it('a BOM, CRLF line endings and a quoted newline load as they should', () => {
    const files = [
      write('bom.csv', `\uFEFF${header}\n9100000001,1,100,EUR,paid,2026-03-05\n`),
      write('crlf.csv', `${header}\r\n9100000002,1,100,EUR,paid,2026-03-05\r\n`),
      write('quoted newline.csv', `${header}\n9100000003,1,100,EUR,"pa\nid",2026-03-05\n`),
    ];
    expect(cliJson(dir, ['ingest', 'orders', ...files]).status).toBe('published');
    const rows = cliJson<{ order_id: string; status: string; order_date: string }[]>(dir, ['query', 'SELECT order_id, status, CAST(order_date AS VARCHAR) AS order_date FROM orders WHERE order_id > 9100000000 ORDER BY 1']);
    expect(rows.map((r) => [String(r.order_id), r.status, r.order_date])).toEqual([
      ['9100000001', 'paid', '2026-03-05'],
      ['9100000002', 'paid', '2026-03-05'],
      ['9100000003', 'pa\nid', '2026-03-05'],
    ]);
  });

  it('refusals that say what the file is and what to do, leaving state unchanged', async () => {
    const before = await snapshotState(dir);
    const cases: [string[], RegExp, RegExp][] = [
      [[write('orders.csv.gz', Buffer.from([0x1f, 0x8b, 8, 0]))], /^error: in\/orders\.csv\.gz is not a complete gzip file: it ends early/m, /gzip -t in\/orders\.csv\.gz/],
      [[write('orders.csv.zst', Buffer.from([0x28, 0xb5, 0x2f, 0xfd]))], /in\/orders\.csv\.zst is compressed \(zst\)/, /decompress it first and ingest in\/orders\.csv/],
      [['in/nothing-*.csv'], /^error: no file matches in\/nothing-\*\.csv$/m, /check the folder and the pattern/],
      [['in'], /^error: in is a folder, not a file$/m, /pass the files in it/],
      [[write('semi.csv', `${header.replaceAll(',', ';')}\n9100000009;1;100;EUR;paid;2026-03-05\n`)], /separated by semicolons, not commas/, /datasets\.orders\.csv: \{ delimiter: ";" \}/],
      [[write('utf16.csv', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(header, 'utf16le')]))], /in\/utf16\.csv is UTF-16 encoded/, /iconv/],
      [[write('ragged.csv', `${header}\n9100000010,1,100,EUR,paid,2026-03-05,extra\n`)], /CSV Error on Line: 2: Expected Number of Columns: 6 Found: 7/, /fix that line of the file/],
      [[write('cut.parquet', 'PAR1 cut short')], /cannot read in\/cut\.parquet as parquet/, /complete Parquet file/],
    ];
    for (const [files, error, hint] of cases) expectRefusal(cli(dir, ['ingest', 'orders', ...files]), 2, error, hint);
    expect(await snapshotState(dir)).toEqual(before);
  });
});

describe('DuckDB engine', () => {
  it('describing a query never runs a statement that follows a semicolon in it', async () => {
    const folder = tempDir();
    const engine = await DuckDbEngine.open(path.join(folder, 'w.duckdb'));
    try {
      await engine.exec('CREATE TABLE keep (a INTEGER)');
      await expect(engine.describeQuery(engine, 'SELECT 1 AS a; DROP TABLE keep')).rejects.toThrow();
      expect(await engine.columns('main', 'keep')).toEqual([{ name: 'a', type: 'INTEGER' }]);
      // A trailing comment does not swallow the wrapper.
      expect(await engine.describeQuery(engine, 'SELECT 1 AS a -- one')).toEqual([{ name: 'a', type: 'INTEGER' }]);
    } finally {
      await engine.close();
      cleanup(folder);
    }
  });
});
