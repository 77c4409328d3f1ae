/**
 * command: a shell command run from the project folder with the event in environment variables
 * (TIDEMARK_EVENT, TIDEMARK_EVENT_ID, TIDEMARK_RUN_ID, TIDEMARK_DATASETS, TIDEMARK_PARTITIONS,
 * TIDEMARK_PUBLISH_SEQ) and the event JSON on stdin. Exit status 0 is an ack.
 */
import { spawn } from 'node:child_process';
import type { ConsumerConfig } from '../../config/schema.js';
import type { PartitionRef } from '../events.js';
import { DeliveryError } from './delivery-error.js';

type CommandConfig = Extract<ConsumerConfig, { kind: 'command' }>;

export function eventEnv(body: Record<string, unknown>): Record<string, string> {
  const partitions = (body.partitions as PartitionRef[] | undefined) ?? [];
  return {
    TIDEMARK_EVENT: String(body.type),
    TIDEMARK_EVENT_ID: String(body.event_id ?? ''),
    TIDEMARK_RUN_ID: String(body.run_id ?? ''),
    TIDEMARK_DATASETS: ((body.datasets as string[] | undefined) ?? []).join(','),
    TIDEMARK_PARTITIONS: partitions.map((p) => `${p.dataset}:${p.partition}`).join(','),
    TIDEMARK_PUBLISH_SEQ: body.publish_seq === undefined ? '' : String(body.publish_seq),
  };
}

/**
 * The command runs in its own process group, and the timeout kills the group: killing only the shell
 * left what it had started (`sleep 20; …`) running and holding its stderr pipe, so the attempt lasted as
 * long as that child did, not `timeout_ms`, and the command went on after it was said to be killed.
 */
export function runCommand(c: CommandConfig, body: Record<string, unknown>, cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(c.command, { shell: true, cwd, env: { ...process.env, ...eventEnv(body) }, stdio: ['pipe', 'ignore', 'pipe'], detached: true });
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child.pid);
      // Settle now: a process that left the group could still hold the pipe.
      child.stderr.destroy();
      reject(new DeliveryError(`no exit within ${c.timeout_ms} ms (killed)`));
    }, c.timeout_ms);
    child.stderr.on('data', (b: Buffer) => {
      stderr = (stderr + b.toString()).slice(-2000);
    });
    child.stdin.on('error', () => undefined); // a command that ignores stdin may close it early
    child.stdin.end(JSON.stringify(body));
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new DeliveryError(error.message));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) return; // rejected when the timer fired
      if (code === 0) return resolve();
      const last = stderr.trim().split('\n').slice(-1)[0] ?? '';
      reject(new DeliveryError(`exit ${code ?? signal}${last ? `: ${last.slice(0, 200)}` : ''}`));
    });
  });
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* the group is gone already */
  }
}
