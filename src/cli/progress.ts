/** Progress on stderr: a bar on a TTY, plain lines otherwise. Listens to the workspace's event stream. */
import cliProgress from 'cli-progress';
import type { EventBus, TidemarkEvent } from '../events.js';

export function attachProgress(events: EventBus, opts: { quiet?: boolean } = {}): () => void {
  if (opts.quiet) return () => undefined;
  const tty = Boolean(process.stderr.isTTY);
  let bar: cliProgress.SingleBar | null = null;
  let done = 0;
  let total = 0;
  let lastLine = 0;
  const off = events.on((e: TidemarkEvent) => {
    switch (e.type) {
      case 'run.started':
        done = 0;
        total = e.tasks;
        if (tty) {
          bar = new cliProgress.SingleBar(
            { stream: process.stderr, format: ' {bar} {value}/{total} partitions | {detail}', hideCursor: true, clearOnComplete: true },
            cliProgress.Presets.shades_classic,
          );
          bar.start(e.tasks, 0, { detail: e.kind });
        } else process.stderr.write(`run ${e.run_id}: ${e.kind}, ${e.tasks} partition(s)${e.resumed ? ' (resuming)' : ''}\n`);
        break;
      case 'task.finished':
        done++;
        if (bar) bar.update(done, { detail: `${e.dataset} ${e.partition} ${e.status}` });
        else if (e.status === 'failed' || Date.now() - lastLine > 1000) {
          lastLine = Date.now();
          process.stderr.write(`  ${done}/${total} ${e.dataset} ${e.partition} ${e.status}\n`);
        }
        break;
      case 'run.paused':
        if (bar) bar.update(done, { detail: `paused: ${e.reason}` });
        else process.stderr.write(`  paused: ${e.reason}\n`);
        break;
      case 'run.publishing':
        // Every task is computed by now (an ingest stages its partitions together, with no task.finished each).
        done = total;
        if (bar) bar.update(done, { detail: 'publishing' });
        else process.stderr.write('  publishing\n');
        break;
      case 'run.published':
      case 'run.failed':
        bar?.stop();
        bar = null;
        break;
      case 'log':
        process.stderr.write(`${e.message}\n`);
        break;
    }
  });
  return () => {
    bar?.stop();
    off();
  };
}
