/**
 * The package as a user installs it, not as the repo sees it: `npm pack` writes the tarball a registry
 * would serve; it is unpacked into node_modules/tidemark of a consumer project outside the repo,
 * whose other node_modules entries link to the repo's (no network). Against that install:
 *  - the tarball holds what a consumer runs (dist/, bin/, the example, the console) and no tests,
 *    benchmarks, sources or scratch, and its runtime exports are exactly the public surface below;
 *  - every `ts` block of README's "Using Tidemark as a library" compiles with tsc --strict under
 *    moduleResolution nodenext and bundler, and runs, in order, from the folder where the installed
 *    CLI's `tidemark init shop` made the project: the README cannot drift from what works;
 *  - `require('tidemark')` works from CommonJS (JavaScript, and TypeScript compiled to CommonJS);
 *  - a consumer meets each refusal by its error code, with nothing written and the workspace still
 *    usable; a listener that throws does not fail a run; a closed workspace refuses calls; another
 *    process holding the project is LOCKED, then waited for; the process exits on its own.
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROOT, cleanup, requireBuild, tempDir } from '../helpers/project.js';

const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/**
 * What `import * as tidemark from 'tidemark'` holds at runtime. A change here is a change of the
 * public API: make it on purpose, and say it in README's library section.
 */
const RUNTIME_EXPORTS = [
  'SHOP_DAYS', 'SHOP_FIRST_DAY', 'TidemarkError', 'assertNoBlockingGuards', 'auditLog', 'backfill', 'cancelRun', 'checkDuplicates',
  'consumersStatus', 'dedupe', 'diffRun', 'dispatch', 'enqueuePlan', 'exportAudit', 'gc', 'history', 'ingest', 'lineage',
  'listChanges', 'listConsumers', 'listPartitions', 'listRuns', 'loadProject', 'lock', 'openWorkspace', 'planBackfill',
  'planCheckpointReset', 'planDedupe', 'planIngest', 'planRestore', 'planRun', 'preflight', 'query', 'rangeReadiness', 'readiness', 'redeliver',
  'requestCancelByMarker', 'resetCheckpoint', 'restore', 'run', 'runWorker', 'scaffoldShopExample', 'schemaCheck',
  'showCheckpoint', 'startServer', 'status', 'unlock', 'validateCheckpoint', 'verifyAudit', 'verifyAuditChain', 'verifyData',
  'verifyRun', 'waitForConflictingRuns', 'waitForRun',
];

/**
 * A consumer that meets every refusal a backfill service is likely to: prints one JSON object. Run
 * with `node refusals.js PROJECT_DIR` on a freshly initialised shop project.
 */
const REFUSALS = `
import { spawn } from 'node:child_process';
import { cpSync, readdirSync } from 'node:fs';
import path from 'node:path';
import {
  TidemarkError, auditLog, backfill, ingest, listRuns, lock, openWorkspace, planRestore, query, run, status, unlock,
  type BackfillRequest, type ErrorCode, type RunSummary, type Workspace,
} from 'tidemark';

const dir = process.argv[2];
const files = (folder: string): string[] => readdirSync(path.join(dir, folder)).map((f) => path.join(dir, folder, f));

interface Refusal { code: ErrorCode; exitCode: number; hint: boolean; details: Record<string, unknown> }

async function refusal(call: () => Promise<unknown>): Promise<Refusal | 'not refused'> {
  try {
    await call();
    return 'not refused';
  } catch (error) {
    if (!(error instanceof TidemarkError)) throw error;
    return { code: error.code, exitCode: error.exitCode, hint: Boolean(error.hint), details: error.details };
  }
}

/** Everything a refused call must leave as it was. */
async function snapshot(ws: Workspace): Promise<string> {
  const runs = (await listRuns(ws)).map((r: RunSummary) => \`\${r.run_id} \${r.status}\`);
  return JSON.stringify({ datasets: (await status(ws)).datasets, runs, audit: (await auditLog(ws)).length });
}

const out: Record<string, unknown> = {};
out.blankActor = await refusal(async () => (await openWorkspace(dir, { actor: ' ' })).close());
let ws = await openWorkspace(dir, { actor: 'svc' });
try {
  await ingest(ws, 'orders', files('data/orders'));
  await ingest(ws, 'fx_rates', files('data/fx_rates'));
  await run(ws);
  const week: BackfillRequest = { dataset: 'daily_revenue', from: '2026-04-24', to: '2026-04-30', downstream: true };

  const before = await snapshot(ws);
  out.refused = {
    unknownDataset: await refusal(() => backfill(ws, { ...week, dataset: 'daily_revenu' }, { reason: 'fix' })),
    badDate: await refusal(() => backfill(ws, { ...week, from: '2026-02-30' }, { reason: 'fix' })),
    blankReason: await refusal(() => backfill(ws, week, { reason: ' ' })),
    fullRefresh: await refusal(() => backfill(ws, { dataset: 'daily_revenue', from: '2026-01-01', to: '2026-04-30' }, { reason: 'fix' })),
    unknownRun: await refusal(() => planRestore(ws, { dataset: 'daily_revenue', run: 'r_nope' })),
    writeQuery: await refusal(() => query(ws, 'DELETE FROM daily_revenue')),
    badSql: await refusal(() => query(ws, 'SELECT * FROM no_such_table')),
    secondOpen: await refusal(async () => (await openWorkspace(dir, { actor: 'svc' })).close()),
  };
  out.unchanged = (await snapshot(ws)) === before;

  await lock(ws, { dataset: 'daily_revenue', from: '2026-04-28', to: '2026-04-28', reason: 'finance sign-off' });
  const locked = await snapshot(ws);
  out.lockedRange = await refusal(() => backfill(ws, week, { reason: 'fix' }));
  out.unchangedWhileLocked = (await snapshot(ws)) === locked;
  await unlock(ws, { dataset: 'daily_revenue', from: '2026-04-28', to: '2026-04-28', reason: 'signed off' });

  // The upstream fix arrives; a listener with a bug: reported as a warning, the run still publishes and says so.
  cpSync(path.join(dir, 'data', 'fixes'), path.join(dir, 'data', 'orders'), { recursive: true });
  await ingest(ws, 'orders', files('data/orders'));
  const warnings: string[] = [];
  process.on('warning', (w: Error & { code?: string }) => void warnings.push(String(w.code)));
  const off = ws.events.on((e) => {
    if (e.type === 'task.finished' || e.type === 'run.published') throw new Error('listener bug');
  });
  try {
    const result = await backfill(ws, week, { reason: 'EUR amounts were 10% high' });
    await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
    out.withBuggyListener = { status: result.status, published: result.published.length, warnings: [...new Set(warnings)] };
  } catch (error) {
    out.withBuggyListener = { threw: String(error) };
  } finally {
    off();
  }
  out.runs = (await listRuns(ws)).map((r) => ({ run_id: r.run_id, status: r.status }));
} finally {
  await ws.close();
}
out.afterClose = await refusal(() => status(ws));

// Another process holds the project: LOCKED naming it, then waited for (told whom it waits for).
const holder = spawn(process.execPath, ['holder.mjs', dir], { stdio: ['pipe', 'pipe', 'inherit'] });
await new Promise((resolve) => holder.stdout.once('data', resolve));
out.heldElsewhere = await refusal(async () => (await openWorkspace(dir, { actor: 'svc' })).close());
out.holderPid = holder.pid;
out.pid = process.pid;
const waits: string[] = [];
ws = await openWorkspace(dir, {
  actor: 'svc',
  waitMs: 120_000,
  onWait: (_text, reason) => {
    if (waits.push(reason) === 1) holder.stdin.end('close\\n');
  },
});
out.waited = waits;
out.afterWait = (await status(ws)).datasets.length;
await ws.close();
process.stdout.write(JSON.stringify(out));
`;

/** Holds the project until told on stdin to let go. */
const HOLDER = `
import { openWorkspace } from 'tidemark';
const ws = await openWorkspace(process.argv[2], { actor: 'orchestrator', command: 'nightly-orchestrator' });
process.stdout.write('held\\n');
process.stdin.once('data', async () => { await ws.close(); });
`;

/** CommonJS consumers: plain require(), and TypeScript compiled to CommonJS. */
const CJS = `const tidemark = require('tidemark');
console.log(typeof tidemark.openWorkspace, typeof tidemark.TidemarkError);
`;
const CTS = `import { TidemarkError, openWorkspace, type ErrorCode } from 'tidemark';
const code: ErrorCode = 'LOCKED';
console.log(typeof openWorkspace, new TidemarkError(code, 'x').exitCode);
`;

/**
 * A consumer that keeps the id of the run a call made: `status` tells whether there is one, and
 * narrowing on it types `run_id` (type-checked only).
 */
const RESULTS = `import type { IngestResult, RestoreResult, RunResult } from 'tidemark';

export function runOf(result: RunResult | RestoreResult | IngestResult): string | null {
  switch (result.status) {
    case 'published': {
      const id: string = result.run_id;
      return id;
    }
    case 'noop':
    case 'dry_run': {
      const none: null = result.run_id;
      return none;
    }
  }
}
`;

/** The `ts` blocks of README's "Using Tidemark as a library", in order. */
function readmeExamples(): string[] {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Using Tidemark as a library');
  const section = readme.slice(start, readme.indexOf('\n## ', start + 1));
  const blocks = [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
  if (!blocks.length) throw new Error('README: no ts example under "Using Tidemark as a library"');
  return blocks;
}

interface Packed {
  /** The files of the tarball, relative to the package root. */
  files: string[];
  /** The consumer project (outside the repo) with the tarball installed. */
  consumer: string;
}

/** `npm pack` (dist/ is built already: no scripts), unpacked into a consumer project's node_modules. */
function packAndInstall(scratch: string): Packed {
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], { cwd: ROOT, encoding: 'utf8' });
  if (pack.status !== 0) throw new Error(`npm pack failed:\n${pack.stderr}`);
  const [info] = JSON.parse(pack.stdout) as { filename: string; files: { path: string }[] }[];
  const consumer = path.join(scratch, 'consumer');
  const modules = path.join(consumer, 'node_modules');
  mkdirSync(modules, { recursive: true });
  const untar = spawnSync('tar', ['xzf', path.join(scratch, info.filename), '-C', modules], { encoding: 'utf8' });
  if (untar.status !== 0) throw new Error(`tar failed:\n${untar.stderr}`);
  renameSync(path.join(modules, 'package'), path.join(modules, 'tidemark'));
  // What an install from a registry adds: the package's dependencies (not its devDependencies, such
  // as @types/pg), linked to the repo's copies; and the consumer's own @types/node. The CLI bundle
  // (dist/tidemark.cjs) requires @duckdb/node-bindings from its own folder: a dependency of its own
  // (the version its bundled driver was built with), so a package manager that does not hoist
  // @duckdb/node-api's dependencies (pnpm) installs it where the bundle looks.
  const repoModules = realpathSync(path.join(ROOT, 'node_modules'));
  const manifest = JSON.parse(readFileSync(path.join(modules, 'tidemark', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
  for (const name of [...Object.keys(manifest.dependencies), '@types/node']) {
    mkdirSync(path.dirname(path.join(modules, name)), { recursive: true });
    symlinkSync(path.join(repoModules, name), path.join(modules, name));
  }
  writeFileSync(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  return { files: info.files.map((f) => f.path), consumer };
}

/** The sources named by the package's source maps that the package does not hold: `map -> source`. */
function unshippedMapSources(consumer: string, files: string[]): string[] {
  const shipped = new Set(files);
  return files
    .filter((f) => f.endsWith('.map'))
    .flatMap((map) => {
      const { sources, sourceRoot = '' } = JSON.parse(readFileSync(path.join(consumer, 'node_modules', 'tidemark', map), 'utf8')) as { sources: string[]; sourceRoot?: string };
      return sources.filter((s) => !shipped.has(path.posix.join(path.posix.dirname(map), sourceRoot, s))).map((s) => `${map} -> ${s}`);
    });
}

/** tsc --strict over `files` in the consumer, with one module resolution; emits into out-RESOLUTION/. */
function typecheck(consumer: string, resolution: 'nodenext' | 'bundler', files: string[]): string[] {
  const module = resolution === 'nodenext' ? 'nodenext' : 'esnext';
  // The package's own declarations are checked once (nodenext), with only its dependencies installed;
  // under bundler only resolution differs.
  const compilerOptions = { target: 'ES2022', module, moduleResolution: resolution, strict: true, skipLibCheck: resolution === 'bundler', types: ['node'], outDir: `out-${resolution}` };
  const config = path.join(consumer, `tsconfig.${resolution}.json`);
  writeFileSync(config, JSON.stringify({ compilerOptions, files }, null, 2));
  const r = spawnSync(process.execPath, [TSC, '-p', config, '--pretty', 'false'], { cwd: consumer, encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.split('\n').filter(Boolean);
}

/** Runs compiled JavaScript; a process that does not exit on its own is killed (and fails the test). */
function node(script: string, args: string[], cwd: string): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, [script, ...args], { cwd, encoding: 'utf8', timeout: 110_000, killSignal: 'SIGKILL' });
}

/**
 * Runs `script` as a user who cannot write `dir`. As root (CI containers) chmod stops nothing, so root
 * runs it as `nobody` with setpriv (the folders above must let nobody in); null when it cannot.
 */
function withoutWriteAccess(dir: string, script: string, args: string[]): SpawnSyncReturns<string> | null {
  const root = process.getuid?.() === 0;
  if (root && spawnSync('setpriv', ['--version']).status !== 0) return null;
  const prefix = root ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  if (!root) chmodSync(dir, 0o555);
  try {
    const [cmd, ...rest] = [...prefix, process.execPath, script, ...args];
    return spawnSync(cmd, rest, { cwd: os.tmpdir(), encoding: 'utf8', timeout: 110_000, killSignal: 'SIGKILL' });
  } finally {
    if (!root) chmodSync(dir, 0o755);
  }
}

describe('the packed package, installed in a project outside the repo', () => {
  let scratch: string;
  let packed: Packed;
  const readme = readmeExamples();
  const readmeFiles = readme.map((_, i) => `readme-${i + 1}.ts`);

  beforeAll(() => {
    requireBuild();
    scratch = tempDir('tidemark-package-');
    packed = packAndInstall(scratch);
    const { consumer } = packed;
    readme.forEach((source, i) => writeFileSync(path.join(consumer, readmeFiles[i]), source));
    writeFileSync(path.join(consumer, 'refusals.ts'), REFUSALS);
    writeFileSync(path.join(consumer, 'holder.mjs'), HOLDER);
    writeFileSync(path.join(consumer, 'plain.cjs'), CJS);
    writeFileSync(path.join(consumer, 'typed.cts'), CTS);
    writeFileSync(path.join(consumer, 'results.ts'), RESULTS);
  });

  afterAll(() => cleanup(scratch));

  it('holds what a consumer runs, and no tests, benchmarks, sources or scratch', () => {
    const { files, consumer } = packed;
    for (const needed of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'bin/tidemark.js', 'dist/tidemark.cjs', 'examples/shop/tidemark.yaml', 'console/index.html']) {
      expect(files).toContain(needed);
    }
    expect(files.filter((f) => /^(test|bench|src|scripts|tmp|docs|node_modules)\//.test(f) || /\.duckdb|\.tgz$|^\.tidemark\//.test(f))).toEqual([]);
    // A V8 code cache holds code compiled by the build machine's exact Node version (bin/load-cli.js):
    // useless to any other, and an install writes its own (see the CLI test below).
    expect(files.filter((f) => f.includes('.v8cache'))).toEqual([]);
    // A source map is shipped only with the sources it points at (none is: dist/ is readable JavaScript).
    expect(unshippedMapSources(consumer, files)).toEqual([]);
    // The declarations a consumer compiles against name no path of the machine that built them.
    const declarations = files.filter((f) => f.endsWith('.d.ts'));
    const leaking = declarations.filter((f) => readFileSync(path.join(consumer, 'node_modules', 'tidemark', f), 'utf8').includes(ROOT));
    expect(leaking).toEqual([]);
    // The CLI bundle loads the native binding itself: the package names it, at the version the bundled driver wants.
    const manifest = JSON.parse(readFileSync(path.join(consumer, 'node_modules', 'tidemark', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const driver = JSON.parse(readFileSync(path.join(ROOT, 'node_modules', '@duckdb', 'node-api', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(manifest.dependencies['@duckdb/node-bindings']).toBe(driver.dependencies['@duckdb/node-bindings']);
  });

  it('exports exactly the public surface at runtime', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "import('tidemark').then((m) => console.log(JSON.stringify(Object.keys(m).sort())))"], { cwd: packed.consumer, encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual([...RUNTIME_EXPORTS].sort());
  });

  // Two full tsc runs on a small shared machine: a budget of its own.
  it('type-checks the README examples, a consumer of every refusal and one of run ids with tsc --strict, under nodenext and bundler', { timeout: 300_000 }, () => {
    const files = [...readmeFiles, 'refusals.ts', 'results.ts'];
    expect(typecheck(packed.consumer, 'bundler', files)).toEqual([]);
    expect(typecheck(packed.consumer, 'nodenext', [...files, 'typed.cts'])).toEqual([]);
  });

  it('runs the README examples as written, each exiting on its own', () => {
    const { consumer } = packed;
    const cwd = path.join(scratch, 'readme');
    mkdirSync(cwd);
    // "after `npx tidemark init shop`", with the installed package's CLI
    const init = spawnSync(process.execPath, [path.join(consumer, 'node_modules', 'tidemark', 'bin', 'tidemark.js'), 'init', 'shop'], { cwd, encoding: 'utf8' });
    expect(init.stderr).toBe('');
    expect(init.status).toBe(0);
    expect(existsSync(path.join(cwd, 'shop', 'data', 'fixes'))).toBe(true);
    const [first, second] = readmeFiles.map((f) => node(path.join(consumer, 'out-nodenext', f.replace(/\.ts$/, '.js')), [], cwd));
    expect(first.stderr).toBe('');
    expect(first.signal).toBeNull();
    expect(first.status).toBe(0);
    expect(first.stdout).toMatch(/dataset: 'revenue_7d'/);
    expect(first.stdout.trim().split('\n').at(-1)).toBe('published 15');
    expect(second.stderr).toBe('');
    expect(second.signal).toBeNull();
    expect(second.status).toBe(0);
    expect(second.stdout.trim().split('\n')).toEqual(['GUARD 3', 'UNKNOWN_DATASET 2', 'true']);
  });

  describe('its CLI, installed with no code cache', () => {
    const installed = () => path.join(packed.consumer, 'node_modules', 'tidemark');
    const caches = () => readdirSync(path.join(installed(), 'dist')).filter((f) => f.includes('.v8cache'));
    const version = () => (JSON.parse(readFileSync(path.join(installed(), 'package.json'), 'utf8')) as { version: string }).version;

    // Earlier tests ran the installed CLI, which cached: start from the install as the tarball left it.
    beforeAll(() => caches().forEach((f) => rmSync(path.join(installed(), 'dist', f))));

    it('runs where the user may not write the install (a global install, a read-only image), and caches nothing', (ctx) => {
      chmodSync(scratch, 0o755); // a temp folder is private to its owner: let the other user in, to read
      const r = withoutWriteAccess(path.join(installed(), 'dist'), path.join(installed(), 'bin', 'tidemark.js'), ['--version']);
      if (!r) return ctx.skip('running as root without setpriv: permissions cannot be taken away');
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      expect(r.stdout.trim()).toBe(version());
      expect(caches()).toEqual([]);
    });

    it('writes its own cache on first use where it may, and runs with it', () => {
      for (let i = 0; i < 2; i++) {
        const r = node(path.join(installed(), 'bin', 'tidemark.js'), ['--version'], packed.consumer);
        expect(r.stderr).toBe('');
        expect(r.stdout.trim()).toBe(version());
        expect(caches()).toEqual([expect.stringMatching(new RegExp(`^tidemark\\.cjs\\.${process.version.replaceAll('.', '\\.')}-${process.arch}-[0-9a-f]+\\.v8cache$`))]);
      }
    });
  });

  it.skipIf(!(process.features as { require_module?: boolean }).require_module)('is required from CommonJS, in JavaScript and in TypeScript compiled to CommonJS', () => {
    const { consumer } = packed;
    const plain = node(path.join(consumer, 'plain.cjs'), [], consumer);
    expect(plain.stderr).toBe('');
    expect(plain.stdout.trim()).toBe('function function');
    const typed = node(path.join(consumer, 'out-nodenext', 'typed.cjs'), [], consumer);
    expect(typed.stderr).toBe('');
    expect(typed.stdout.trim()).toBe('function 1');
  });

  describe('refusals, met by a consumer', () => {
    let out: any;
    let project: string;

    beforeAll(async () => {
      const { consumer } = packed;
      project = path.join(scratch, 'refusals');
      const init = spawnSync(process.execPath, [path.join(consumer, 'node_modules', 'tidemark', 'bin', 'tidemark.js'), 'init', project], { encoding: 'utf8' });
      if (init.status !== 0) throw new Error(init.stderr);
      if (!existsSync(path.join(consumer, 'out-nodenext', 'refusals.js'))) typecheck(consumer, 'nodenext', ['refusals.ts']);
      const r = node(path.join(consumer, 'out-nodenext', 'refusals.js'), [project], consumer);
      if (r.status !== 0 || r.signal) throw new Error(`refusals.js: exit ${r.status} ${r.signal}\n${r.stderr}`);
      out = JSON.parse(r.stdout);
    });

    it('tells each refusal by its code and exit code, with a hint', () => {
      expect(out.blankActor).toMatchObject({ code: 'USAGE', exitCode: 2, hint: true });
      expect(out.refused.unknownDataset).toMatchObject({ code: 'UNKNOWN_DATASET', exitCode: 2, hint: true });
      expect(out.refused.badDate).toMatchObject({ code: 'BAD_DATE', exitCode: 2, hint: true });
      expect(out.refused.blankReason).toMatchObject({ code: 'USAGE', exitCode: 2, hint: true });
      expect(out.refused.fullRefresh).toMatchObject({ code: 'GUARD', exitCode: 3, hint: true, details: { guards: [expect.objectContaining({ code: 'FULL_REFRESH' })] } });
      expect(out.refused.unknownRun).toMatchObject({ code: 'NOT_FOUND', exitCode: 2, hint: true });
      expect(out.refused.writeQuery).toMatchObject({ code: 'USAGE', exitCode: 2, hint: true });
      expect(out.refused.badSql).toMatchObject({ code: 'SQL', exitCode: 2 });
      expect(out.lockedRange).toMatchObject({ code: 'GUARD', exitCode: 3, hint: true, details: { guards: [expect.objectContaining({ code: 'LOCKED' })] } });
    });

    it('writes nothing when it refuses, and leaves the workspace usable', () => {
      // Each snapshot after the refusals read the workspace: it was still usable.
      expect(out.unchanged).toBe(true);
      expect(out.unchangedWhileLocked).toBe(true);
    });

    it('refuses a second open in the same process, and names the other process that holds the project, then waits for it', () => {
      expect(out.refused.secondOpen).toMatchObject({ code: 'LOCKED', exitCode: 1, hint: true });
      expect(out.refused.secondOpen.details.pid).toBe(out.pid);
      expect(out.heldElsewhere).toMatchObject({ code: 'LOCKED', exitCode: 1, hint: true, details: { pid: out.holderPid } });
      expect(out.waited[0]).toBe('project_held');
      expect(out.afterWait).toBe(5);
    });

    it('refuses a call on a closed workspace as a usage error', () => {
      expect(out.afterClose).toMatchObject({ code: 'USAGE', exitCode: 2, hint: true });
    });

    it('keeps a run going when a listener throws, and reports the listener by a warning', () => {
      expect(out.withBuggyListener).toEqual({ status: 'published', published: 15, warnings: ['TIDEMARK_LISTENER'] });
    });

    it('lists runs as `tidemark runs` does', () => {
      const r = spawnSync(process.execPath, [path.join(packed.consumer, 'node_modules', 'tidemark', 'bin', 'tidemark.js'), 'runs', '--json', '--project', project], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      const cli = (JSON.parse(r.stdout) as { run_id: string; status: string }[]).map(({ run_id, status }) => ({ run_id, status }));
      expect(out.runs).toEqual(cli);
      expect(out.runs[0].status).toBe('complete');
    });
  });
});
