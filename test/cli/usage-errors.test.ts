// Commander's own usage errors (a missing argument, an unknown option or command, a command group typed
// alone) through the real CLI: exit 2, one `error:` line, `hint:` lines that say what to type — for a
// missing dataset the datasets the command takes (`checkpoint …`: the incremental models) — and with
// --json one JSON error object on stdout, as every other error has. Nothing is written. An option's value
// that is one of the command's flags (`--reason --dry-run`) is refused the same way.
import { appendFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtShop, cleanup, cli, requireBuild, scaffoldShop, snapshotState, tempDir, type CliResult } from '../helpers/project.js';

let dir: string;
let plain: string; // the shop as scaffolded: no incremental model

beforeAll(async () => {
  requireBuild();
  dir = await builtShop();
  // An incremental model next to the shop's (not built: the errors below come before anything opens).
  appendFileSync(
    path.join(dir, 'tidemark.yaml'),
    `
  order_ids:
    kind: model
    sql: models/order_ids.sql
    partition: { column: order_date, grain: day }
    key: [order_id]
    incremental: { cursor: order_id }
`,
  );
  writeFileSync(path.join(dir, 'models', 'order_ids.sql'), "SELECT order_id, order_date FROM {{ ref('orders') }} WHERE order_date >= {{ start }} AND order_date < {{ end }}\n");
  plain = await scaffoldShop();
}, 300_000);
afterAll(() => cleanup(dir, plain));

interface ErrorJson {
  error: { code: string; message: string; hint?: string; exit_code: number };
}

const lines = (r: CliResult, prefix: string) => r.stderr.split('\n').filter((l) => l.startsWith(prefix));

const CASES: { name: string; args: string[]; error: RegExp; hints: RegExp[] }[] = [
  {
    name: 'checkpoint validate without a dataset names the incremental models',
    args: ['checkpoint', 'validate'],
    error: /^error: missing required argument 'dataset'$/,
    hints: [/^hint: incremental models in this project: order_ids$/, /^hint: usage: tidemark checkpoint validate \[options\] <dataset>/],
  },
  {
    name: 'checkpoint reset without a dataset (a write command)',
    args: ['checkpoint', 'reset', '--to', '5', '--reason', 'x', '--yes'],
    error: /missing required argument 'dataset'/,
    hints: [/^hint: incremental models in this project: order_ids$/, /^hint: usage: tidemark checkpoint reset/],
  },
  {
    name: 'ingest without a source names the sources',
    args: ['ingest'],
    error: /missing required argument 'source'/,
    hints: [/^hint: sources in this project: orders, fx_rates$/, /^hint: usage: tidemark ingest \[options\] <source> <files\.\.\.>/],
  },
  {
    name: 'backfill without a dataset names the datasets',
    args: ['backfill', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'x', '--yes'],
    error: /missing required argument 'dataset'/,
    hints: [/^hint: datasets in this project: orders, fx_rates, daily_revenue, .*order_ids$/, /^hint: usage: tidemark backfill/],
  },
  { name: 'wait without a run', args: ['wait'], error: /missing required argument 'run'/, hints: [/^hint: `tidemark runs` lists the recent runs$/, /^hint: usage: tidemark wait/] },
  {
    name: 'a mistyped option',
    args: ['backfill', 'daily_revenue', '--frm', '2026-03-01', '--to', '2026-03-02', '--reason', 'x', '--yes'],
    error: /^error: unknown option '--frm'$/,
    hints: [/^hint: did you mean --from\?$/, /^hint: usage: tidemark backfill/],
  },
  { name: 'a mistyped command', args: ['chekpoint', 'validate', 'order_ids'], error: /^error: unknown command 'chekpoint'$/, hints: [/^hint: did you mean checkpoint\?$/, /^hint: tidemark --help lists the commands$/] },
  { name: 'an option without its value', args: ['plan', 'daily_revenue', '--to', '2026-03-02', '--from'], error: /option '--from <date>' argument missing/, hints: [/^hint: usage: tidemark plan/] },
  // commander hands a value-taking option the next word even when it is a flag: the dry run asked for
  // would otherwise have been swallowed as the reason, and the backfill published for real.
  {
    name: 'a flag swallowed as --reason',
    args: ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', '--dry-run', '--yes'],
    error: /^error: --reason has no value: it took the next flag, --dry-run, as its value$/,
    hints: [/^hint: give --reason its value \(--reason <text>\) before --dry-run$/],
  },
  { name: 'a flag swallowed as --actor', args: ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'x', '--actor', '--yes'], error: /^error: --actor has no value: it took the next flag, --yes/, hints: [/^hint: give --actor its value/] },
  { name: 'a mistyped subcommand', args: ['checkpoint', 'valdate', 'order_ids'], error: /^error: unknown command 'valdate'$/, hints: [/^hint: did you mean validate\?$/, /^hint: tidemark checkpoint takes a subcommand: show, validate, reset \(tidemark checkpoint --help\)$/] },
  { name: 'a command group alone', args: ['checkpoint'], error: /^error: tidemark checkpoint needs a subcommand: show, validate, reset$/, hints: [/^hint: e\.g\. tidemark checkpoint show --help$/] },
];

describe('usage errors', () => {
  it.each(CASES)('$name: exit 2, one error line, hints, one JSON object with --json, nothing changed', async (c) => {
    const before = await snapshotState(dir);
    const r = cli(dir, c.args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(lines(r, 'error:')).toHaveLength(1);
    expect(lines(r, 'error:')[0]).toMatch(c.error);
    expect(lines(r, 'hint:')).toHaveLength(c.hints.length);
    lines(r, 'hint:').forEach((l, i) => expect(l).toMatch(c.hints[i]));
    expect(r.stderr).not.toContain('(run with --help for usage)');

    const j = cli(dir, [...c.args, '--json']);
    expect(j.code).toBe(2);
    const out = JSON.parse(j.stdout) as ErrorJson;
    expect(Object.keys(out)).toEqual(['error']);
    expect(out.error).toEqual({ code: 'USAGE', message: lines(r, 'error:')[0].slice('error: '.length), hint: lines(r, 'hint:').map((l) => l.slice('hint: '.length)).join('\n'), exit_code: 2 });
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('checkpoint show without a dataset in a project with no incremental model says so', () => {
    const r = cli(plain, ['checkpoint', 'show']);
    expect(r.code).toBe(2);
    expect(lines(r, 'hint:')[0]).toBe('hint: no model in this project is incremental: checkpoints exist only for models with incremental: { cursor: COLUMN }');
  });

  it('checkpoint on a dataset without a checkpoint names the incremental models: an unknown one, a source, a plain model', async () => {
    const before = await snapshotState(dir);
    const unknown = cli(dir, ['checkpoint', 'validate', 'order_id', '--json']);
    expect(unknown.code).toBe(2);
    expect(JSON.parse(unknown.stdout).error).toMatchObject({ code: 'UNKNOWN_DATASET', hint: 'incremental models in this project: order_ids' });
    const source = cli(dir, ['checkpoint', 'reset', 'orders', '--to', '5', '--reason', 'x', '--yes']);
    expect(source.code).toBe(2);
    expect(lines(source, 'hint:').at(-1)).toBe('hint: incremental models in this project: order_ids');
    const model = cli(dir, ['checkpoint', 'show', 'daily_revenue']);
    expect(model.code).toBe(2);
    expect(lines(model, 'hint:')).toEqual(['hint: declare incremental: { cursor: COLUMN } on daily_revenue in tidemark.yaml', 'hint: incremental models in this project: order_ids']);
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('outside any project the hint is the usage alone', () => {
    const empty = tempDir();
    const r = cli(empty, ['partitions']);
    cleanup(empty);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("error: missing required argument 'dataset'\nhint: usage: tidemark partitions [options] <dataset> (tidemark partitions --help for every option)\n");
  });

  it('a value that looks like a flag is taken when written as one word with its option (--reason=--hotfix): meant, as the console passes what was typed', async () => {
    const r = cli(dir, ['lock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--reason=--hotfix', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const trail = JSON.parse(cli(dir, ['audit', 'log', '--dataset', 'daily_revenue', '--json']).stdout) as { action: string; reason: string }[];
    expect(trail.at(-1)).toMatchObject({ action: 'lock', reason: '--hotfix' });
    expect(cli(dir, ['unlock', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02', '--reason', 'undo', '--json']).code).toBe(0);
  });

  it('--help and --version still exit 0 on stdout', () => {
    expect(cli(dir, ['checkpoint', 'validate', '--help'])).toMatchObject({ code: 0, stdout: expect.stringContaining('Usage: tidemark checkpoint validate'), stderr: '' });
    expect(cli(dir, ['--version'])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
  });
});
