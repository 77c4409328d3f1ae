/**
 * One typed event stream for progress. Listeners: the terminal progress bar, the server's
 * server-sent events, and tests.
 */
import { EventEmitter } from 'node:events';
import type { ErrorCode } from './errors.js';
import type { RunKind } from './plan/types.js';

export type TidemarkEvent =
  /** `resumed`: the run of an earlier attempt of this command (failed, cancelled or interrupted) goes on, reusing what it computed. */
  | { type: 'run.started'; run_id: string; kind: RunKind; tasks: number; resumed: boolean }
  | { type: 'task.started'; run_id: string; dataset: string; partition: string }
  | { type: 'task.finished'; run_id: string; dataset: string; partition: string; status: 'computed' | 'skipped' | 'reused' | 'failed'; rows?: number }
  | { type: 'run.publishing'; run_id: string }
  /** A publish transaction of the run has done all its work: what follows is its commit (until then, a stop leaves nothing of it). */
  | { type: 'run.committing'; run_id: string }
  | { type: 'run.published'; run_id: string; published: number; unchanged: number }
  /**
   * The run stopped without publishing all it planned. `code` tells a failure from a stop that is not
   * one: CANCELLED (a cancel was asked), WINDOW_CLOSED (it resumes when its run window opens).
   */
  | { type: 'run.failed'; run_id: string; error: string; code: ErrorCode }
  | { type: 'run.paused'; run_id: string; reason: string }
  | { type: 'log'; message: string };

export class EventBus {
  private readonly emitter = new EventEmitter();

  /**
   * Tells every listener. A listener is told, never asked: one that throws (or rejects) is reported
   * as a process warning and the others are still told, so a bug in a progress display can neither
   * fail the run that emitted the event nor make a run that published look failed to its caller.
   */
  emit(event: TidemarkEvent): void {
    for (const listener of this.emitter.listeners('event') as ((event: TidemarkEvent) => unknown)[]) {
      try {
        const result = listener(event);
        if (result instanceof Promise) result.catch((error: unknown) => listenerFailed(event, error));
      } catch (error) {
        listenerFailed(event, error);
      }
    }
  }

  on(listener: (event: TidemarkEvent) => void): () => void {
    this.emitter.on('event', listener);
    return () => this.emitter.off('event', listener);
  }
}

function listenerFailed(event: TidemarkEvent, error: unknown): void {
  const message = error instanceof Error ? error.message : String(error);
  process.emitWarning(`a Tidemark event listener threw on ${event.type} (the run went on): ${message}`, {
    code: 'TIDEMARK_LISTENER',
    detail: error instanceof Error ? error.stack : undefined,
  });
}
