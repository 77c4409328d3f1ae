#!/usr/bin/env node
// Thin launcher so `npx tidemark` and global installs run the CLI: dist/tidemark.mjs, the compiled
// CLI bundled into one file (scripts/bundle-cli.js) because it starts much faster than the module tree.
if (process.argv.includes('--debug')) process.setSourceMapsEnabled(true);
const { main } = await import('../dist/tidemark.mjs');

main(process.argv).then((code) => {
  process.exitCode = code;
});
