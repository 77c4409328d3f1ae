/**
 * A command consumer that outlives its `timeout_ms` is killed with everything it started. Only the
 * shell was killed: a command with a child (`sleep …; …`, a script calling curl) kept running, holding
 * the stderr pipe the dispatcher waits on, so each attempt lasted as long as the child did instead of
 * `timeout_ms`, and the child went on (here: to write its file) after the attempt said "killed".
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyOrdersFix, builtShop, cleanup, cli, requireBuild, until } from '../helpers/project.js';

/** Running: a zombie (killed, not yet reaped by whoever adopted it) counts as gone. */
function alive(pid: number): boolean {
  const stat = path.join('/proc', String(pid), 'stat');
  if (!existsSync(stat)) return false;
  return !/^\d+ \(.*\) Z/.test(readFileSync(stat, 'utf8'));
}

describe('a command consumer past its timeout (DuckDB)', () => {
  let dir: string;

  beforeAll(async () => {
    requireBuild();
    dir = await builtShop();
    applyOrdersFix(dir, ['2026-03-01']);
    const file = path.join(dir, 'tidemark.yaml');
    const yaml = readFileSync(file, 'utf8').replace('    sql: models/daily_revenue.sql\n', '    sql: models/daily_revenue.sql\n    consumers: [slow]\n');
    // The shell starts a child that records its pid, waits, then writes late.flag: it must never get there.
    const command = `sh -c 'echo $$ >> child.pids; sleep 8; touch late.flag'; true`;
    writeFileSync(file, `${yaml}\nconsumers:\n  slow: { kind: command, command: ${JSON.stringify(command)}, timeout_ms: 500, max_attempts: 1 }\n`);
  });

  afterAll(() => cleanup(dir));

  it('kills the command and what it started, and says so', async () => {
    const r = cli(dir, ['backfill', 'daily_revenue', '--from', '2026-03-01', '--to', '2026-03-01', '--reason', 'slow consumer', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { deliveries } = JSON.parse(r.stdout) as { deliveries: { failed: { event_type: string; error: string }[] } };
    expect(deliveries.failed.map((f) => [f.event_type, f.error])).toEqual([
      ['run.started', 'no exit within 500 ms (killed)'],
      ['run.published', 'no exit within 500 ms (killed)'],
    ]);
    // The children (one per attempt) are gone: the command ended before any of them wrote its file.
    const pids = readFileSync(path.join(dir, 'child.pids'), 'utf8').trim().split('\n').map(Number);
    expect(pids).toHaveLength(2);
    await until(() => pids.every((pid) => !alive(pid)));
    expect(existsSync(path.join(dir, 'late.flag'))).toBe(false);
  });
});
