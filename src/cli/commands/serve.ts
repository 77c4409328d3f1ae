/**
 * `tidemark serve`: the long-running scheduler process of a project (issue 7). It holds the DuckDB
 * file and runs, side by side and under the pools' slots and priorities, the commands that other
 * terminals hand to it (src/server/client.ts). It prints where it listens; the token is in
 * .tidemark/serve.json (mode 0600).
 */
import type { Command } from 'commander';
import { findProjectDir } from '../../config/load.js';
import { openWorkspace } from '../../workspace.js';
import { commandLine, globals, print, printJson } from '../context.js';
import { TidemarkError, usageError } from '../../errors.js';
import { parsePositiveInt } from './core.js';
import { bindsBeyondLoopback, hostPart } from '../../server/host-check.js';
import { readServeInfo } from '../../server/serve-file.js';

export function registerServeCommands(program: Command): void {
  program
    .command('serve')
    .description('run the scheduler and local API for this project; other commands are handed to it')
    .option('--port <n>', 'port to listen on (0: any free port)', '7391')
    .option('--host <address>', 'address to bind (the API is local by default)', '127.0.0.1')
    .action(async (opts: { port: string; host: string }, cmd: Command) => {
      const g = globals(cmd);
      const port = opts.port === '0' ? 0 : parsePositiveInt(opts.port, '--port')!;
      if (port > 65535) throw usageError(`--port must be between 0 and 65535, got ${opts.port}`);
      refuseSecondServer(g.project ?? process.cwd());
      const ws = await openWorkspace(g.project ?? process.cwd(), { actor: g.actor, command: commandLine() });
      const log = (line: string) => process.stderr.write(`[serve] ${line}\n`);
      let server;
      try {
        // startServer closes its own HTTP server when a later step fails; the workspace is ours to close.
        server = await (await import('../../server/server.js')).startServer(ws, { host: opts.host, port, log });
      } catch (error) {
        await ws.close();
        throw error;
      }
      if (bindsBeyondLoopback(opts.host)) {
        process.stderr.write(
          `warning: --host ${opts.host} makes the read API (datasets, runs, the whole audit log) reachable from the network without a token; only the actions need the token in .tidemark/serve.json\n`,
        );
      }
      if (g.json) printJson({ url: server.url, host: server.info.host, port: server.info.port, pid: process.pid, project: ws.project.dir });
      else print(`tidemark serve: ${ws.project.name} at ${server.url} (pid ${process.pid}); token in .tidemark/serve.json. Stop with Ctrl-C.`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      log('stopping: runs in flight stop here and resume when their command is re-issued');
      await server.close();
      await ws.close();
    });
}

/**
 * One server per project: its serve.json is how every other command finds it. Without this check a
 * second serve met the DuckDB lock and was told to "run `tidemark serve`" — the very thing it was
 * doing — and on PostgreSQL it would have replaced the first one's serve.json.
 */
function refuseSecondServer(dir: string): void {
  const running = readServeInfo(findProjectDir(dir));
  if (!running) return;
  throw new TidemarkError('LOCKED', `tidemark serve is already running for this project at http://${hostPart(running.host)}:${running.port} (pid ${running.pid}, since ${running.started_at})`, {
    hint: `other commands are handed to it as they are; to restart it, stop it first (Ctrl-C in its terminal, or kill ${running.pid})`,
  });
}
