#!/usr/bin/env node
/**
 * Bundles the compiled CLI (dist/cli/main.js and everything it imports) into one file,
 * dist/tidemark.cjs, which bin/tidemark.js runs. Why: a no-op `tidemark run` must answer in well
 * under 300 ms, and resolving and linking ~200 separate modules (zod alone loads 64 locale files)
 * cost ~100 ms of every start. The library (dist/index.js) stays unbundled.
 *
 * CommonJS rather than ESM because Node 20 can reuse V8's compiled code only for scripts: parsing
 * and compiling the 2 MB bundle was ~60 ms of every start, and bin/load-cli.js keeps V8's code cache
 * of it next to the bundle (Node 22's module compile cache would do this for ESM too). The sources
 * have no top-level await, which CommonJS could not hold. Code caches of an earlier build are
 * deleted here, so a new bundle never meets an old cache.
 *
 * In the bundle the DuckDB driver's JavaScript is bundled too (the module that loads it is swapped for
 * a static import, below); only its native binding (@duckdb/node-bindings) is loaded from
 * node_modules. That is why package.json names @duckdb/node-bindings itself, at the exact version
 * @duckdb/node-api (the bundled JavaScript) depends on: a package manager that does not hoist
 * dependencies of dependencies (pnpm) would otherwise leave it where the bundle cannot see it, and a
 * newer binding than the bundled driver could disagree with it. pg's optional native binding is never used.
 */
import { build } from 'esbuild';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * dist/engines/duckdb/driver.js loads @duckdb/node-api with require() so that unbundled ESM skips
 * Node's CommonJS export lexer; esbuild cannot see through that call, so here the module becomes a
 * plain import that esbuild can bundle.
 */
const bundledDuckDbDriver = {
  name: 'bundled-duckdb-driver',
  setup(b) {
    b.onLoad({ filter: /[\\/]engines[\\/]duckdb[\\/]driver\.js$/ }, () => ({
      contents: "import * as api from '@duckdb/node-api'; export const duckdb = api;",
      resolveDir: path.join(ROOT, 'dist', 'engines', 'duckdb'),
    }));
  },
};

await build({
  entryPoints: [path.join(ROOT, 'dist', 'cli', 'main.js')],
  outfile: path.join(ROOT, 'dist', 'tidemark.cjs'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['@duckdb/node-bindings', 'pg-native'],
  plugins: [bundledDuckDbDriver],
  // The compiled modules find their package (package-root.ts) and load the DuckDB driver from
  // import.meta.url, which CommonJS lacks: the bundle's own file URL stands in for it.
  banner: { js: "const __tidemarkModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
  define: { 'import.meta.url': '__tidemarkModuleUrl' },
  // For --debug in the repo. Not packed (package.json `files`): it lists the build machine's node_modules.
  sourcemap: 'linked',
  logLevel: 'warning',
});

for (const name of readdirSync(path.join(ROOT, 'dist'))) {
  if (name.endsWith('.v8cache') || name === 'tidemark.mjs' || name === 'tidemark.mjs.map') rmSync(path.join(ROOT, 'dist', name), { force: true });
}
