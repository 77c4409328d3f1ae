/** Shared plumbing for commands: global options, opening the workspace, printing, confirmation. */
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { TidemarkError } from '../errors.js';
import { deferJson, deliverAfter } from '../consumers/after-command.js';
import { openWorkspace, type Workspace } from '../workspace.js';
import { attachProgress } from './progress.js';
import { hostedCall } from '../server/hosted.js';

export interface GlobalOptions {
  project?: string;
  json?: boolean;
  actor?: string;
  debug?: boolean;
  wait?: string | boolean;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

/** Opens the project, runs `fn`, always closes. Progress goes to stderr unless --json. */
export async function withWorkspace<T>(cmd: Command, fn: (ws: Workspace, g: GlobalOptions) => Promise<T>): Promise<T> {
  const g = globals(cmd);
  // Inside `tidemark serve` (issue 7): the server's open workspace; progress goes back to the client.
  const hosted = hostedCall();
  if (hosted) {
    const ws = g.actor ? { ...hosted.workspace, actor: g.actor } : hosted.workspace;
    // Commands run by `serve` deliver to consumers too, so their runs can become complete.
    return deliverAfter(ws, () => fn(ws, g), hosted.stderr);
  }
  const waitMs = g.wait === undefined || g.wait === false ? 0 : g.wait === true ? 3_600_000 : Number(g.wait) * 1000;
  const onUpgrade = (from: number, to: number) =>
    process.stderr.write(`tidemark: upgrading the state store from version ${from} to ${to} (once; it can take a while on a large store)\n`);
  const ws = await openWorkspace(g.project ?? process.cwd(), { actor: g.actor, command: commandLine(), waitMs, onUpgrade });
  const detach = attachProgress(ws.events, { quiet: Boolean(g.json) && !process.stderr.isTTY });
  try {
    // A command that published delivers the outbox to consumers before it exits (issue 9).
    return await deliverAfter(ws, () => fn(ws, g));
  } finally {
    detach();
    await ws.close();
  }
}

export function commandLine(): string {
  const hosted = hostedCall();
  if (hosted) return hosted.command;
  return ['tidemark', ...process.argv.slice(2)].map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ');
}

export function printJson(value: unknown): void {
  // A command that started a run prints its JSON after delivering to consumers, with `deliveries`.
  if (deferJson(value, printJson)) return;
  writeOut(`${JSON.stringify(value, null, 2)}\n`);
}

export function print(text: string): void {
  writeOut(`${text}\n`);
}

/** stdout, or the client's stdout when the command runs inside `tidemark serve`. */
function writeOut(text: string): void {
  const hosted = hostedCall();
  if (hosted) hosted.stdout(text);
  else process.stdout.write(text);
}

/** Asks on a TTY; without one, --yes is required (exit 3). */
export async function confirm(question: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (hostedCall()) {
    throw new TidemarkError('CONFIRM', 'confirmation needed: a command handed to `tidemark serve` cannot ask', { hint: 'review the plan (--dry-run), then pass --yes' });
  }
  if (!process.stdin.isTTY || !process.stderr.isTTY) {
    throw new TidemarkError('CONFIRM', 'confirmation needed and no terminal to ask on', { hint: 'review the plan (--dry-run), then pass --yes' });
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = (await rl.question(`${question} [y/N] `)).trim().toLowerCase();
    if (answer !== 'y' && answer !== 'yes') throw new TidemarkError('CONFIRM', 'not confirmed; nothing was changed');
  } finally {
    rl.close();
  }
}
