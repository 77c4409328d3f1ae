/**
 * One typed event stream for progress. Listeners: the terminal progress bar, the server's
 * server-sent events, and tests.
 */
import { EventEmitter } from 'node:events';

export type TidemarkEvent =
  | { type: 'run.started'; run_id: string; kind: string; tasks: number; resumed: number }
  | { type: 'task.started'; run_id: string; dataset: string; partition: string }
  | { type: 'task.finished'; run_id: string; dataset: string; partition: string; status: 'computed' | 'skipped' | 'reused' | 'failed'; rows?: number }
  | { type: 'run.publishing'; run_id: string }
  /** A publish transaction of the run has done all its work: what follows is its commit (until then, a stop leaves nothing of it). */
  | { type: 'run.committing'; run_id: string }
  | { type: 'run.published'; run_id: string; published: number; unchanged: number }
  | { type: 'run.failed'; run_id: string; error: string }
  | { type: 'run.paused'; run_id: string; reason: string }
  | { type: 'log'; message: string };

export class EventBus {
  private readonly emitter = new EventEmitter();

  emit(event: TidemarkEvent): void {
    this.emitter.emit('event', event);
  }

  on(listener: (event: TidemarkEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}
