// The background hashing of ingested files (src/execute/ingest-hashing.ts): the SHA-256 of a file read
// in chunks into two buffers in turn must be the SHA-256 of its bytes, whatever the file's size is in
// chunks; a file that cannot be read is reported where its turn comes, not hashed.
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listAndHash } from '../../src/execute/ingest-hashing.js';
import { cleanup, tempDir } from '../helpers/project.js';

const dir = tempDir('tidemark-hashing-');
afterAll(() => cleanup(dir));

function file(name: string, bytes: Buffer): { path: string; sha256: string } {
  mkdirSync(dir, { recursive: true });
  const p = path.join(dir, name);
  writeFileSync(p, bytes);
  return { path: p, sha256: createHash('sha256').update(bytes).digest('hex') };
}

describe('ingest file hashing', () => {
  it('gives the SHA-256 of the bytes: empty, under one chunk, whole chunks, and a partial last chunk', async () => {
    const MiB = 1 << 20;
    const files = [file('empty.csv', Buffer.alloc(0)), file('small.csv', randomBytes(1000)), file('two.parquet', randomBytes(2 * MiB)), file('odd.parquet', randomBytes(3 * MiB + 12345))];
    const { listed } = listAndHash(files.map((f) => f.path));
    expect(await Promise.all(listed.map((l) => l.sha256))).toEqual(files.map((f) => f.sha256));
    expect(listed.map((l) => ('error' in l.stat ? null : l.stat.bytes))).toEqual([0, 1000, 2 * MiB, 3 * MiB + 12345]);
  });

  it('reports a missing file or a directory without hashing it, and still hashes the files after it', async () => {
    const ok = file('ok.csv', Buffer.from('a,b\n1,2\n'));
    const { listed } = listAndHash([path.join(dir, 'missing.csv'), dir, ok.path, ok.path]);
    expect(listed.map((l) => ('error' in l.stat ? l.stat.error.message : 'ok'))).toEqual([`cannot read ${path.join(dir, 'missing.csv')}: no such file`, `${dir} is a folder, not a file`, 'ok', 'ok']);
    expect(listed[0].sha256).toBeUndefined();
    expect(await listed[2].sha256).toBe(ok.sha256);
    // The same file given twice is hashed once.
    expect(listed[3].sha256).toBe(listed[2].sha256);
  });

  it('stops hashing when asked: what is not finished fails instead of reading on', async () => {
    const big = file('big.parquet', randomBytes(8 << 20));
    const { listed, stop } = listAndHash([big.path]);
    stop();
    await expect(listed[0].sha256).rejects.toThrow('hashing stopped');
  });
});
