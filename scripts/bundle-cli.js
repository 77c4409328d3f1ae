#!/usr/bin/env node
/**
 * Bundles the compiled CLI (dist/cli/main.js and everything it imports) into one file,
 * dist/tidemark.mjs, which bin/tidemark.js runs. Why: a no-op `tidemark run` must answer in well
 * under 300 ms, and resolving and linking ~200 separate modules (zod alone loads 64 locale files)
 * cost ~100 ms of every start. The library (dist/index.js) stays unbundled.
 *
 * In the bundle the DuckDB driver's JavaScript is bundled too (the module that loads it is swapped for
 * a static import, below); only its native binding (@duckdb/node-bindings) is loaded from
 * node_modules. pg's optional native binding is never used.
 */
import { build } from 'esbuild';
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
  outfile: path.join(ROOT, 'dist', 'tidemark.mjs'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['@duckdb/node-bindings', 'pg-native'],
  plugins: [bundledDuckDbDriver],
  // Bundled CommonJS packages (pg, yaml) call require() for Node built-ins.
  banner: { js: "import { createRequire as __tidemarkRequire } from 'node:module'; const require = __tidemarkRequire(import.meta.url);" },
  sourcemap: 'linked',
  logLevel: 'warning',
});
