#!/usr/bin/env node
// Thin launcher so `npx tidemark` and global installs run the CLI: dist/tidemark.cjs, the compiled
// CLI bundled into one file (scripts/bundle-cli.js) because it starts much faster than the module
// tree, loaded with V8's code cache (load-cli.js).
import { fileURLToPath } from 'node:url';
import { loadCli } from './load-cli.js';

const { main } = loadCli(fileURLToPath(new URL('../dist/tidemark.cjs', import.meta.url)), { debug: process.argv.includes('--debug') });

main(process.argv).then((code) => {
  process.exitCode = code;
});
