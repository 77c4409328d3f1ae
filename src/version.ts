import { readFileSync } from 'node:fs';

/** The package version, recorded in every audit record. */
export const TIDEMARK_VERSION: string = (() => {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
})();
