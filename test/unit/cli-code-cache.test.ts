/**
 * bin/load-cli.js runs the CLI bundle with V8's code cache kept next to it. A cache must only ever
 * make a start faster: a missing, damaged or out-of-date one still runs the current bundle's code.
 * Each case runs a real Node process on a small CommonJS "bundle" in a temp folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const LOADER = path.resolve('bin/load-cli.js');
const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function bundleDir(answer: string): { dir: string; bundle: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tidemark-code-cache-'));
  dirs.push(dir);
  const bundle = path.join(dir, 'bundle.cjs');
  writeBundle(bundle, answer);
  return { dir, bundle };
}

function writeBundle(bundle: string, answer: string): void {
  writeFileSync(bundle, `exports.answer = () => ${JSON.stringify(answer)};\nexports.file = __filename;\n`);
}

/** Loads `bundle` through the loader in a new process and prints what its exports say. */
function load(bundle: string, env: Record<string, string> = {}): string {
  const script = `import { loadCli } from ${JSON.stringify(LOADER)}; const m = loadCli(${JSON.stringify(bundle)}); console.log(m.answer() + ' ' + m.file);`;
  return execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { ...process.env, ...env } }).trim();
}

const caches = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.v8cache'));

describe('the CLI code cache (bin/load-cli.js)', () => {
  it('writes a cache on the first start and reads it, unchanged, on the next', () => {
    const { dir, bundle } = bundleDir('first');
    expect(load(bundle)).toBe(`first ${bundle}`);
    expect(caches(dir)).toHaveLength(1);
    const cache = path.join(dir, caches(dir)[0]);
    const written = statSync(cache).mtimeMs;
    expect(load(bundle)).toBe(`first ${bundle}`);
    expect(statSync(cache).mtimeMs).toBe(written);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('runs a changed bundle, not the code the cache holds', () => {
    const { dir, bundle } = bundleDir('old');
    load(bundle);
    const { mtime } = statSync(bundle);
    writeBundle(bundle, 'new'); // the same length: V8's own check (the source length) would not notice
    utimesSync(bundle, mtime, mtime); // nor would a check of size and time (npm packs every file with one fixed time)
    expect(load(bundle)).toBe(`new ${bundle}`);
    expect(caches(dir)).toHaveLength(2);
  });

  it('runs the bundle when the cache is damaged, and replaces the cache', () => {
    const { dir, bundle } = bundleDir('intact');
    load(bundle);
    const cache = path.join(dir, caches(dir)[0]);
    writeFileSync(cache, Buffer.from('not a V8 code cache'));
    expect(load(bundle)).toBe(`intact ${bundle}`);
    expect(readFileSync(cache).toString()).not.toBe('not a V8 code cache');
    expect(load(bundle)).toBe(`intact ${bundle}`);
  });

  it('rewrites the cache when asked to (the build warms it that way)', () => {
    const { dir, bundle } = bundleDir('warm');
    load(bundle);
    const cache = path.join(dir, caches(dir)[0]);
    writeFileSync(cache, Buffer.alloc(0));
    load(bundle, { TIDEMARK_CODE_CACHE: 'refresh' });
    expect(statSync(cache).size).toBeGreaterThan(0);
  });
});
