/**
 * The web console's files: console/ (index.html, ES modules, styles) from the package, and the two
 * browser libraries it imports — preact and htm — straight from node_modules under /vendor/. No
 * build step and no CDN: the console works offline with whatever `npm install` put on disk. The
 * module files are resolved once at startup, as Node resolves them, so a hoisted or nested install
 * both work. Only names on the lists below are served: no path from a URL reaches the file system.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { Hono } from 'hono';
import { PACKAGE_ROOT } from '../package-root.js';

export const CONSOLE_DIR = path.join(PACKAGE_ROOT, 'console');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};

/** URL under /vendor/ → the ES module build in node_modules (the browser entry of each package). */
function vendorFiles(): Record<string, string> {
  const require = createRequire(path.join(PACKAGE_ROOT, 'package.json'));
  const beside = (specifier: string, file: string) => path.join(path.dirname(require.resolve(specifier)), file);
  return {
    'preact.mjs': beside('preact', 'preact.module.js'),
    'preact-hooks.mjs': beside('preact/hooks', 'hooks.module.js'),
    'htm.mjs': beside('htm', 'htm.module.js'),
  };
}

/** console/ files: a name, or pages/ and parts/ one level down; letters, digits and dashes only. */
const CONSOLE_FILE = /^(?:(?:pages|parts)\/)?[a-z0-9-]+\.(?:js|css|svg|html)$/;

export function registerAssetRoutes(app: Hono): void {
  const vendor = vendorFiles();
  const cache = new Map<string, Buffer>();
  const send = (file: string, cacheable: boolean) => {
    let body = cache.get(file);
    if (!body) {
      body = readFileSync(file);
      if (cacheable) cache.set(file, body); // vendor files do not change while the server runs
    }
    return new Response(new Uint8Array(body), { headers: { 'content-type': TYPES[path.extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-cache' } });
  };

  app.get('/', () => send(path.join(CONSOLE_DIR, 'index.html'), false));
  app.get('/vendor/:file', (c) => {
    const file = vendor[c.req.param('file')];
    return file ? send(file, true) : c.json({ error: 'not found' }, 404);
  });
  app.get('/console/*', (c) => {
    const name = c.req.path.slice('/console/'.length);
    if (!CONSOLE_FILE.test(name)) return c.json({ error: 'not found' }, 404);
    try {
      return send(path.join(CONSOLE_DIR, name), false);
    } catch {
      return c.json({ error: 'not found' }, 404);
    }
  });
}
