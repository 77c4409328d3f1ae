/**
 * `run` with nothing to do, timed twice: the CLI as a user runs it (a Node subprocess: start-up,
 * open, plan, close) and the library call in-process (open + plan + close). Shared by the main bench
 * project (scenario c) and the 5-dataset late-data project (issue 5).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../dist/api/operations.js';
import { openWorkspace } from '../dist/workspace.js';
import { measure } from './measure.js';

const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'tidemark.js');

/** Two result rows (goal ≤ 300 ms each) for the project in `dir`, described by `what`. */
export async function noopRunRows(dir, { id, what }) {
  const cli = await measure(`no-op run (CLI) ${what}`, () => {
    const child = spawnSync(process.execPath, [BIN, 'run', '--json', '--project', dir], { encoding: 'utf8' });
    if (child.status !== 0) throw new Error(`tidemark run failed: ${child.stderr}`);
    const result = JSON.parse(child.stdout);
    if (result.status !== 'noop') throw new Error(`expected a no-op run, got ${result.status}`);
  });
  const inProcess = await measure(`no-op run (in-process) ${what}`, async () => {
    const ws = await openWorkspace(dir, { actor: 'bench', command: 'bench run' });
    try {
      const result = await run(ws);
      if (result.status !== 'noop') throw new Error(`expected a no-op run, got ${result.status}`);
    } finally {
      await ws.close();
    }
  });
  const row = (name, m) => ({ id, name, measured_ms: m.median_ms, baseline_ms: null, ratio: null, goal: '≤ 300 ms', met: m.median_ms <= 300, samples: { run: m.samples_ms } });
  return [row(`no-op run over ${what}, CLI subprocess`, cli), row(`no-op run over ${what}, in-process (open + plan + close)`, inProcess)];
}
