/**
 * The package as a consumer uses it: `import … from 'tidemark'`, resolved through package.json
 * "exports" to the built dist/ (so `npm run build` first). Two proofs:
 *  (a) a plain Node ESM script (library-api/consumer.mjs) scaffolds the shop example, ingests, runs,
 *      plans and backfills a range, checks readiness and verifies the audit chain and the data, on a
 *      real DuckDB file, and prints JSON asserted here;
 *  (b) TypeScript consumers are type-checked with the repo's tsc against the shipped .d.ts files
 *      (moduleResolution nodenext): correct usage compiles, wrong usage does not.
 * The README's examples are compiled and run against the packed package by library-package.test.ts.
 * Both run from a folder inside the repo (its gitignored tmp/), where Node and tsc resolve 'tidemark'
 * to this package by its self-reference, as they would from a project that installed it.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cleanup, requireBuild, tempDir } from '../helpers/project.js';

const FIXTURE = path.join(ROOT, 'test', 'integration', 'library-api');
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** A folder inside the package (so 'tidemark' resolves to it), outside git (tmp/ is ignored). */
function packageScratchDir(prefix: string): string {
  mkdirSync(path.join(ROOT, 'tmp'), { recursive: true });
  return mkdtempSync(path.join(ROOT, 'tmp', prefix));
}

describe('the package used as a library (Node ESM, real DuckDB)', () => {
  let scratch: string;
  let project: string;
  let out: any;

  beforeAll(() => {
    requireBuild();
    scratch = packageScratchDir('library-api-');
    project = path.join(tempDir('tidemark-library-'), 'shop');
    copyFileSync(path.join(FIXTURE, 'consumer.mjs'), path.join(scratch, 'consumer.mjs'));
    const r = spawnSync(process.execPath, [path.join(scratch, 'consumer.mjs'), project], { cwd: scratch, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`consumer.mjs exited ${r.status}:\n${r.stderr}`);
    out = JSON.parse(r.stdout);
  });

  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
    cleanup(path.dirname(project));
  });

  it('ingests, runs, and re-ingests exactly the corrected files', () => {
    expect(out.ingested).toEqual({ orders: 120, fx: 120, fixed: 7 });
    expect(out.built.status).toBe('published');
    expect(out.built.published).toBeGreaterThan(0);
    expect(out.staleBefore.ready).toBe(false);
    expect(out.staleBefore.reason).toMatch(/stale/);
  });

  it('plans and backfills exactly the range and its dependents', () => {
    const days = ['2026-04-24', '2026-04-25', '2026-04-26', '2026-04-27', '2026-04-28', '2026-04-29', '2026-04-30'];
    expect(out.plan).toEqual([
      { dataset: 'daily_revenue', partitions: days },
      { dataset: 'monthly_revenue', partitions: ['2026-04-01'] },
      { dataset: 'revenue_7d', partitions: days },
    ]);
    expect(out.backfill.status).toBe('published');
    expect(out.backfill.published).toEqual([...days.map((d) => `daily_revenue ${d}`), 'monthly_revenue 2026-04-01', ...days.map((d) => `revenue_7d ${d}`)]);
    // As `tidemark runs` shows it: published, and no consumer awaits it.
    expect(out.runs[0]).toEqual({ run_id: out.backfill.run_id, kind: 'backfill', status: 'complete' });
  });

  it('refuses as the CLI does, with TidemarkError code, exit code and hint, writing nothing', () => {
    const { noReason, fullRefresh, fullRefreshRun, auditBefore, auditAfterRefusals } = out.refusals;
    expect(noReason).toMatchObject({ code: 'USAGE', exitCode: 2 });
    expect(noReason.hint).toMatch(/--reason/);
    expect(fullRefresh).toMatchObject({ code: 'GUARD', exitCode: 3 });
    expect(fullRefresh.message).toMatch(/full refresh/);
    expect(fullRefreshRun).toEqual(fullRefresh);
    expect(auditAfterRefusals).toBe(auditBefore);
  });

  it('records the caller as actor, with the reason, in the audit trail', () => {
    expect(out.lastAudit).toEqual({ actor: 'library-consumer', reason: 'library test: corrected EUR orders', command: 'consumer.mjs' });
  });

  it('reports readiness, an intact chain and live data matching the record', () => {
    expect(out.ready).toMatchObject({ dataset: 'daily_revenue', partition: '2026-04-30', ready: true, version: 2, reason: null, held_by: [] });
    // The backfilled week as one range: all 7 days stale before, all ready after.
    expect(out.range).toEqual({ before: { ready: false, not_ready: 7 }, after: { ready: true, partitions: 7 } });
    expect(out.chain.ok).toBe(true);
    // The backfill appended to the chain it verified.
    expect(out.chain.count).toBeGreaterThan(out.refusals.auditBefore);
    expect(out.data).toMatchObject({ ok: true, datasets: ['daily_revenue', 'fx_rates', 'monthly_revenue', 'orders', 'revenue_7d'] });
  });

  it('streams progress events to ws.events listeners', () => {
    expect(out.events).toEqual(expect.arrayContaining(['run.started', 'task.finished', 'run.published']));
  });
});

/** A consumer written against the public types: every call here must keep compiling. */
const TYPED_CONSUMER = `
import {
  TidemarkError,
  backfill,
  openWorkspace,
  planBackfill,
  readiness,
  cancelRun,
  listRuns,
  verifyAudit,
  verifyData,
  type BackfillRequest,
  type DataVerdict,
  type ErrorCode,
  type Readiness,
  type RunResult,
  type RunSummary,
  type TidemarkEvent,
} from 'tidemark';

export async function fixLastWeek(dir: string): Promise<{ result: RunResult; ready: Readiness; data: DataVerdict; runs: RunSummary[] }> {
  const ws = await openWorkspace(dir, { actor: 'ci' });
  const off = ws.events.on((e: TidemarkEvent) => {
    if (e.type === 'task.finished') console.error(e.dataset, e.partition, e.status, e.rows ?? 0);
  });
  try {
    const request: BackfillRequest = { dataset: 'daily_revenue', from: '2026-04-24', to: '2026-04-30', downstream: true };
    const plan = await planBackfill(ws, request);
    const result = await backfill(ws, request, { reason: 'upstream fix', maxParallel: 2, publish: 'run' }, plan);
    const chain = await verifyAudit(ws);
    if (!chain.ok) throw new Error(chain.message);
    const runs = await listRuns(ws, { limit: 5 });
    if (runs[0]?.status === 'computing') await cancelRun(ws, runs[0].run_id);
    return { result, ready: await readiness(ws, 'daily_revenue'), data: await verifyData(ws, { datasets: ['daily_revenue'] }), runs };
  } catch (error) {
    if (error instanceof TidemarkError) {
      const code: ErrorCode = error.code;
      const exit: number = error.exitCode;
      const hint: string | undefined = error.hint;
      console.error(code, exit, hint);
    }
    throw error;
  } finally {
    off();
    await ws.close();
  }
}
`;

/** Wrong usage the shipped types must reject, one mistake per line (found by its marker). */
const WRONG_CONSUMER = `
import { backfill, openWorkspace, type BackfillRequest } from 'tidemark';
import { executePlan } from 'tidemark'; // MARK:internal
import { requireReason } from 'tidemark/dist/api/operations.js'; // MARK:deep

const ws = await openWorkspace('.');
const request: BackfillRequest = { dataset: 'daily_revenue', from: '2026-04-24', to: '2026-04-30' };
await backfill(ws, request, { dryRun: true }); // MARK:reason
await backfill(ws, { dataset: 'daily_revenue', from: '2026-04-24' }, { reason: 'x' }); // MARK:to
void executePlan;
void requireReason;
`;

interface Typecheck {
  status: number | null;
  /** One entry per diagnostic, its indented elaboration lines joined to it. */
  diagnostics: string[];
  /** Each file's lines, to find the line a planted mistake is on. */
  lines: Map<string, string[]>;
  /** Where the compiled JavaScript went (removed by the caller). */
  dir: string;
}

/** Compiles `files` (name → TypeScript source) with the repo's tsc, emitting JavaScript into their folder. */
function compile(files: Record<string, string>): Typecheck {
  const dir = packageScratchDir('library-types-');
  const tsconfig = {
    compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: false, types: ['node'] },
    files: Object.keys(files),
  };
  writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify(tsconfig, null, 2));
  for (const [name, source] of Object.entries(files)) writeFileSync(path.join(dir, name), source);
  const r = spawnSync(process.execPath, [TSC, '-p', dir, '--pretty', 'false'], { cwd: dir, encoding: 'utf8' });
  const diagnostics: string[] = [];
  for (const line of `${r.stdout}${r.stderr}`.split('\n').filter(Boolean)) {
    if (/^\s/.test(line) && diagnostics.length) diagnostics[diagnostics.length - 1] += `\n${line}`;
    else diagnostics.push(line);
  }
  const lines = new Map(Object.entries(files).map(([name, source]) => [name, source.split('\n')]));
  return { status: r.status, diagnostics, lines, dir };
}

/** The diagnostics tsc reported on the line of consumer.ts carrying `MARK:name`. */
function errorsAt(check: Typecheck, mark: string): string[] {
  const line = check.lines.get('consumer.ts')!.findIndex((l) => l.includes(`MARK:${mark}`)) + 1;
  return check.diagnostics.filter((d) => d.startsWith(`consumer.ts(${line},`));
}

describe('the shipped type declarations (tsc, moduleResolution nodenext)', () => {
  const scratch: string[] = [];
  beforeAll(() => requireBuild());
  afterAll(() => cleanup(...scratch));

  it('compile a consumer that uses the public API correctly', () => {
    const check = compile({ 'consumer.ts': TYPED_CONSUMER });
    scratch.push(check.dir);
    expect(check.diagnostics).toEqual([]);
    expect(check.status).toBe(0);
  });

  it('reject wrong usage: a missing reason or range end, internals, deep imports', () => {
    const check = compile({ 'consumer.ts': WRONG_CONSUMER });
    scratch.push(check.dir);
    expect(check.status).not.toBe(0);
    expect(errorsAt(check, 'reason').join('\n')).toMatch(/Property 'reason' is missing/);
    expect(errorsAt(check, 'to').join('\n')).toMatch(/Property 'to' is missing/);
    expect(errorsAt(check, 'internal').join('\n')).toMatch(/has no exported member 'executePlan'/);
    expect(errorsAt(check, 'deep').join('\n')).toMatch(/TS2307/);
    // Nothing else is wrong with the file: every error is one of the four planted mistakes.
    const planted = ['reason', 'to', 'internal', 'deep'].flatMap((m) => errorsAt(check, m));
    expect(check.diagnostics.sort()).toEqual(planted.sort());
  });
});
