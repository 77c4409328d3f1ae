/**
 * The package's root folder (where package.json, console/ and examples/ live). Found by walking up
 * from this module rather than by a fixed `../..`: the same code runs from src/ (tests), dist/
 * (library) and the single-file CLI bundle dist/tidemark.cjs, each at a different depth.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(): string {
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ; dir = path.dirname(dir)) {
    const manifest = path.join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'tidemark') return dir;
    if (path.dirname(dir) === dir) throw new Error(`cannot find tidemark's package.json above ${start}`);
  }
}

export const PACKAGE_ROOT: string = findPackageRoot();
