// `tidemark serve` starting and failing to start, on DuckDB and on PostgreSQL. A PostgreSQL project has
// no .tidemark/ folder of its own (nothing of it is on disk): serve makes it, 0700, for its serve.json
// (0600), answers the API, and stops cleanly. A startup that fails — the port in use, serve.json not
// writable — prints `error:` and `hint:`, closes what it opened, and the process exits by itself (no
// server left bound to the port answering from a closed workspace).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { serveEnv, startServe } from '../e2e/serve-process.js';
import { BIN, builtShop, cleanup, cliJson, requireBuild, testEngines, type TestEngine } from '../helpers/project.js';

const TEST_PG_FILE = path.join('.tidemark', 'test-pg.json');
const made: string[] = [];
afterAll(() => cleanup(...made));

/** A built shop; on PostgreSQL the environment its CLI needs (its schema prefix). */
async function project(engine: TestEngine): Promise<{ dir: string; env: Record<string, string> }> {
  requireBuild();
  const dir = await builtShop(undefined, undefined, { engine });
  made.push(dir);
  const pgFile = path.join(dir, TEST_PG_FILE);
  const env: Record<string, string> = existsSync(pgFile) ? { TIDEMARK_PG_SCHEMA_PREFIX: (JSON.parse(readFileSync(pgFile, 'utf8')) as { prefix: string }).prefix } : {};
  return { dir, env };
}

/**
 * Runs `fn` on a PostgreSQL project as users have it: without .tidemark/ (the test helpers keep the
 * project's schema prefix there; it is put back afterwards so cleanup finds the schemas).
 */
async function withoutStateFolder<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const saved = readFileSync(path.join(dir, TEST_PG_FILE), 'utf8');
  rmSync(path.join(dir, '.tidemark'), { recursive: true, force: true });
  try {
    return await fn();
  } finally {
    rmSync(path.join(dir, '.tidemark'), { recursive: true, force: true });
    mkdirSync(path.join(dir, '.tidemark'));
    writeFileSync(path.join(dir, TEST_PG_FILE), saved);
  }
}

/** `tidemark serve` that is expected to fail: resolves when the process has exited on its own. */
function serveUntilExit(dir: string, args: string[], env: Record<string, string>): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, 'serve', ...args, '--project', dir], { cwd: dir, env: serveEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

function occupyPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ port: (server.address() as { port: number }).port, server })));
}

/** True when something accepts connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return fetch(`http://127.0.0.1:${port}/api/health`).then(
    () => true,
    () => false,
  );
}

const engines = testEngines(inject('pgUrl'));
const postgres = engines.find((e) => e.kind === 'postgres');

describe.skipIf(!postgres)('tidemark serve on PostgreSQL', () => {
  it('makes .tidemark/ (0700) for serve.json (0600), answers the API, hands commands over, and stops cleanly', async () => {
    const { dir, env } = await project(postgres!);
    await withoutStateFolder(dir, async () => {
      const server = await startServe(dir, { env });
      try {
        expect(statSync(path.join(dir, '.tidemark')).mode & 0o777).toBe(0o700);
        expect(statSync(path.join(dir, '.tidemark', 'serve.json')).mode & 0o777).toBe(0o600);
        const project = await (await fetch(`${server.url}/api/project`)).json();
        expect(project.engine).toBe('postgres');
        expect(project.datasets.map((d: { dataset: string }) => d.dataset)).toContain('daily_revenue');
        const audit = await fetch(`${server.url}/api/audit`);
        expect(audit.status).toBe(200);
        // A command handed over by another terminal runs in the server (the token from serve.json).
        const res = await fetch(`${server.url}/api/commands`, {
          method: 'POST',
          headers: { authorization: `Bearer ${server.token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ argv: ['status', '--json'] }),
        });
        const lines = (await res.text()).trim().split('\n').map((l) => JSON.parse(l));
        expect(lines.at(-1)).toEqual({ t: 'exit', code: 0 });
      } finally {
        await server.stop();
      }
      expect(server.child.exitCode).toBe(0);
      expect(existsSync(path.join(dir, '.tidemark', 'serve.json'))).toBe(false);
    });
    // The project is intact and usable by the CLI afterwards.
    expect(cliJson(dir, ['plan', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-02']).datasets).toBeDefined();
  });

  it('when serve.json cannot be written, exits with error:/hint: and leaves nothing listening', async () => {
    const { dir, env } = await project(postgres!);
    const { port, server: probe } = await occupyPort();
    await new Promise<void>((r) => probe.close(() => r())); // a port known to be free now
    await withoutStateFolder(dir, async () => {
      writeFileSync(path.join(dir, '.tidemark'), 'not a folder');
      const r = await serveUntilExit(dir, ['--port', String(port)], env);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^error: cannot write .*serve\.json: /m);
      expect(r.stderr).toMatch(/^hint: /m);
      expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace
      expect(await listening(port)).toBe(false);
    });
  });
});

describe.each(engines)('tidemark serve startup failure ($kind)', (engine) => {
  it('on a port in use: exits 2 with error:/hint:, by itself, and the project opens again', async () => {
    const { dir, env } = await project(engine);
    const { port, server: other } = await occupyPort();
    try {
      const r = await serveUntilExit(dir, ['--port', String(port)], env);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`error: cannot listen on 127.0.0.1:${port}: the port is already in use`);
      expect(r.stderr).toMatch(/^hint: .*--port/m);
      expect(existsSync(path.join(dir, '.tidemark', 'serve.json'))).toBe(false);
    } finally {
      await new Promise<void>((resolve) => other.close(() => resolve()));
    }
    // The workspace was closed: on DuckDB the file is free for the next command.
    expect(cliJson(dir, ['status']).datasets.length).toBeGreaterThan(0);
  });
});
