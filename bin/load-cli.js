/**
 * Loads the CLI bundle (dist/tidemark.cjs) with V8's code cache for it, kept next to the bundle.
 * Parsing and compiling the 2 MB bundle cost ~60 ms of every command's start (a no-op `run` must
 * answer in under 300 ms); with the cache V8 reuses the compiled code of the functions an earlier
 * command ran. Node 22 does this itself (module.enableCompileCache); Node 20 offers it only for
 * scripts compiled with vm.Script, hence a CommonJS bundle run through the module wrapper here.
 *
 * The cache is written once, at the exit of the first command that finds none (or finds it rejected
 * by V8, say after a Node upgrade): to a temporary name, then renamed, so concurrent commands never
 * read half a file. Its name carries a digest of the bundle's text (~3 ms; V8's own check compares
 * only the source's length, so a changed bundle of the same length would run the old code) and the
 * Node version, so a cache never meets another bundle; the build deletes old caches. Writing is best effort:
 * an install the user may not write simply runs without it. The package ships no cache (package.json
 * `files` leaves it out): it fits only the Node version that built it, and even names the build
 * machine's path in stack traces; an install writes its own on its first command. `--debug` loads the
 * bundle through require(), whose stack traces follow the source map (in the repo: the package ships none).
 */
import { createHash } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

export function loadCli(bundle, { debug = false } = {}) {
  const require = createRequire(bundle);
  if (debug) {
    process.setSourceMapsEnabled(true);
    return require(bundle);
  }
  const source = readFileSync(bundle, 'utf8');
  const digest = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const cacheFile = `${bundle}.${process.version}-${process.arch}-${digest}.v8cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    // No cache yet: compile from source, and leave one for the next command.
  }
  const script = new vm.Script(Module.wrap(source), { filename: bundle, cachedData });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, require, module, bundle, path.dirname(bundle));
  const refresh = process.env.TIDEMARK_CODE_CACHE === 'refresh'; // scripts/warm-code-cache.js
  if (!cachedData || script.cachedDataRejected || refresh) process.once('exit', () => writeCache(cacheFile, script));
  return module.exports;
}

/** At exit, so the cache holds every function the command compiled, not just the top level. */
function writeCache(cacheFile, script) {
  const temporary = `${cacheFile}.${process.pid}.tmp`;
  try {
    writeFileSync(temporary, script.createCachedData());
    renameSync(temporary, cacheFile);
  } catch {
    // A read-only install, a full disk: the next command compiles from source, as this one did.
  }
}
