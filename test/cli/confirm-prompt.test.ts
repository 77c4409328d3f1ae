// The confirmation question on a terminal (a real pseudo-terminal from util-linux `script`, real
// processes, DuckDB): Ctrl-C or Ctrl-D at `Backfill N partition(s)? [y/N]` is a no. The command says
// it was not confirmed and that nothing changed (exit 3, CONFIRM), never an INTERNAL "Aborted with
// Ctrl+C", and the warehouse and its state are exactly as before. Waits are on the prompt, never on time.
import { spawn, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, builtShop, cleanup, projectCopies, requireBuild, snapshotState, until } from '../helpers/project.js';

const hasScript = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;

let base: string;
const copies = projectCopies(() => base);

beforeAll(async () => {
  if (!hasScript) return;
  requireBuild();
  base = await builtShop();
}, 300_000);
afterAll(() => {
  copies.removeAll();
  if (base) cleanup(base);
});

/** Runs `tidemark ARGS` on a pseudo-terminal, answers the question with `keys` once it is asked. */
async function answerPrompt(dir: string, args: string[], keys: string): Promise<{ code: number | null; output: string }> {
  const command = [process.execPath, BIN, ...args, '--project', dir].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const env: NodeJS.ProcessEnv = { ...process.env, TIDEMARK_ACTOR: 'test', NO_COLOR: '1' };
  delete env.TIDEMARK_PG_SCHEMA_PREFIX;
  const child = spawn('script', ['-eqc', command, '/dev/null'], { cwd: dir, env, stdio: ['pipe', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (b: Buffer) => (output += b.toString()));
  child.stderr.on('data', (b: Buffer) => (output += b.toString()));
  const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  await until(() => output.includes('[y/N]') || child.exitCode !== null);
  child.stdin.write(keys);
  const code = await done;
  child.stdin.end();
  return { code, output };
}

const backfill = ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-03', '--downstream', '--reason', 'INC: prompt'];

describe.skipIf(!hasScript)('the confirmation question on a terminal', () => {
  it.each([
    ['Ctrl-C', '\x03', 'Ctrl+C'],
    ['Ctrl-D', '\x04', 'Ctrl+D'],
  ])('%s is a no: exit 3, not confirmed, nothing changed', async (_name, keys, shown) => {
    const dir = copies.fresh();
    const before = await snapshotState(dir);
    const { code, output } = await answerPrompt(dir, backfill, keys);
    expect(output).toMatch(/Backfill \d+ partition\(s\)\? \[y\/N\]/);
    expect(output).toContain(`error: not confirmed (${shown}); nothing was changed`);
    expect(output).not.toMatch(/Aborted with/);
    expect(code).toBe(3);
    expect(await snapshotState(dir)).toEqual(before);
  });

  it('with --json, the refusal is the CONFIRM error object', async () => {
    const dir = copies.fresh();
    const { code, output } = await answerPrompt(dir, [...backfill, '--json'], '\x03');
    expect(code).toBe(3);
    expect(output).toMatch(/"code": "CONFIRM"/);
    expect(output).not.toMatch(/"code": "INTERNAL"/);
  });
});
