#!/usr/bin/env node
// Thin launcher so `npx tidemark` and global installs run the compiled CLI.
import { main } from '../dist/cli/main.js';

main(process.argv).then((code) => {
  process.exitCode = code;
});
