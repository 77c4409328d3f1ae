/**
 * The CLI side of `tidemark serve`: when the project's server is running (its serve.json names a live
 * process), a command is not run here — DuckDB admits one process per file — but sent to the server
 * with the token. Its progress is rendered here on stderr, its output printed on stdout, and its exit
 * code returned, so the command behaves as if it had run locally. Without a server: null, and the CLI
 * runs the command itself as before.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { findProjectDir } from '../config/load.js';
import { attachProgress } from '../cli/progress.js';
import { EventBus, type TidemarkEvent } from '../events.js';
import { defaultActor } from '../workspace.js';
import { readServeInfo, type ServeInfo } from './serve-file.js';

/** Commands that always run locally. */
const LOCAL = new Set(['serve', 'init', 'help']);
/** Global options that take a value (so their value is not taken for the command name). */
const VALUED = new Set(['--project', '--actor']);
/** Options whose value is a path that the server must see absolute. */
const PATH_OPTIONS = new Set(['--project', '--output']);

export async function delegateToServer(argv: string[]): Promise<number | null> {
  const args = argv.slice(2);
  if (args.some((a) => a === '--help' || a === '-h' || a === '--version' || a === '-V')) return null;
  const name = commandName(args);
  if (!name || LOCAL.has(name)) return null;
  let projectDir: string;
  try {
    projectDir = findProjectDir(optionValue(args, '--project') ?? process.cwd());
  } catch {
    return null;
  }
  const info = readServeInfo(projectDir);
  if (!info) return null;
  return send(info, absolutePaths(args));
}

async function send(info: ServeInfo, args: string[]): Promise<number | null> {
  const host = info.host.includes(':') ? `[${info.host}]` : info.host === '0.0.0.0' ? '127.0.0.1' : info.host;
  let response: Response;
  try {
    response = await fetch(`http://${host}:${info.port}/api/commands`, {
      method: 'POST',
      headers: { authorization: `Bearer ${info.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ argv: args, actor: optionValue(args, '--actor') ?? defaultActor() }),
    });
  } catch {
    return null; // not answering: run locally, which names the holder if the file is still held
  }
  if (!response.ok || !response.body) {
    const text = await response.text().catch(() => '');
    process.stderr.write(`error: tidemark serve (pid ${info.pid}) refused the command: ${response.status} ${text}\n`);
    return 1;
  }
  const events = new EventBus();
  const json = args.includes('--json');
  const detach = attachProgress(events, { quiet: json && !process.stderr.isTTY });
  let code: number | null = null;
  try {
    const decoder = new TextDecoder();
    let buffer = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (!line.trim()) continue;
        const msg = JSON.parse(line) as { t: string; event?: TidemarkEvent; text?: string; code?: number };
        if (msg.t === 'event' && msg.event) events.emit(msg.event);
        else if (msg.t === 'out') process.stdout.write(msg.text ?? '');
        else if (msg.t === 'err') process.stderr.write(msg.text ?? '');
        else if (msg.t === 'exit') code = msg.code ?? 1;
      }
    }
  } catch (error) {
    process.stderr.write(`error: lost the connection to tidemark serve (pid ${info.pid}): ${(error as Error).message}\n`);
    return 1;
  } finally {
    detach();
  }
  if (code === null) {
    process.stderr.write(`error: tidemark serve (pid ${info.pid}) ended the command without a result\nhint: see \`tidemark runs\`; re-issuing the command resumes it\n`);
    return 1;
  }
  return code;
}

/** The first argument that is neither an option nor a global option's value. */
function commandName(args: string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (VALUED.has(a)) i++;
    else if (a === '--wait' && /^\d+(\.\d+)?$/.test(args[i + 1] ?? '')) i++;
    else if (!a.startsWith('-')) return a;
  }
  return undefined;
}

function optionValue(args: string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === name) return args[i + 1];
    if (args[i].startsWith(`${name}=`)) return args[i].slice(name.length + 1);
  }
  return undefined;
}

/**
 * The server runs in another folder: files named relative to this terminal's folder (ingest FILE…,
 * --output FILE, --project DIR) are sent as absolute paths.
 */
function absolutePaths(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const eq = a.indexOf('=');
    if (a.startsWith('--') && eq > 0 && PATH_OPTIONS.has(a.slice(0, eq))) out.push(`${a.slice(0, eq)}=${path.resolve(a.slice(eq + 1))}`);
    else if (PATH_OPTIONS.has(a) && i + 1 < args.length) out.push(a, path.resolve(args[++i]));
    else if (!a.startsWith('-') && !path.isAbsolute(a) && isFile(a)) out.push(path.resolve(a));
    else out.push(a);
  }
  return out;
}

function isFile(p: string): boolean {
  try {
    return existsSync(p) && statSync(p).isFile();
  } catch {
    return false;
  }
}
