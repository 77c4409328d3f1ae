/**
 * Ctrl-C on a command handed to `tidemark serve`. The client cannot stop code running in the server,
 * so it asks (`POST /api/commands/:id/interrupt`), and the server cancels the runs of that command
 * between tasks, exactly as `tidemark cancel RUN` would: nothing is published, staging is kept, and
 * the command ends with the same CANCELLED error (exit 1) as a local cancel, so re-issuing it resumes.
 *
 * A command interrupted before its run started (still planning, or waiting for partitions another run
 * holds) has its run cancelled as soon as the run starts: the run then stops at its first task gate.
 */
import { coerceError } from '../errors.js';
import type { TidemarkEvent } from '../events.js';
import { requestCancel } from '../scheduler/cancel.js';
import type { Workspace } from '../workspace.js';

/** What an interrupt did to one run of the command. */
export interface RunInterrupt {
  run_id: string;
  /** `cancelling` (stops between tasks), `cancelled`, or the status that could not be cancelled (e.g. `publishing`). */
  status: string;
  /** Why the run could not be cancelled, when it could not. */
  error?: string;
}

export interface InterruptResult {
  command_id: number;
  /** False when the command had already ended. */
  running: boolean;
  /** The runs the command has started so far; empty when none started yet (it is cancelled when it starts). */
  runs: RunInterrupt[];
}

interface Tracked {
  /** Runs started by the command, in order; finished ones leave. */
  runs: Set<string>;
  interrupted: boolean;
}

export class CommandInterrupts {
  private readonly commands = new Map<number, Tracked>();

  constructor(private readonly ws: Workspace) {}

  /** A command starts: returns the observer of its events and the function that forgets it when it ends. */
  track(commandId: number): { observe(event: TidemarkEvent): void; done(): void } {
    const tracked: Tracked = { runs: new Set(), interrupted: false };
    this.commands.set(commandId, tracked);
    return {
      observe: (event) => {
        if (event.type === 'run.started') {
          tracked.runs.add(event.run_id);
          // Interrupted before this run started: it must not run on unattended.
          if (tracked.interrupted) void this.cancel(event.run_id).catch(() => undefined);
        } else if (event.type === 'run.published' || event.type === 'run.failed') tracked.runs.delete(event.run_id);
      },
      done: () => this.commands.delete(commandId),
    };
  }

  /** The client pressed Ctrl-C: cancel the command's runs between tasks (and any run it starts later). */
  async interrupt(commandId: number): Promise<InterruptResult> {
    const tracked = this.commands.get(commandId);
    if (!tracked) return { command_id: commandId, running: false, runs: [] };
    tracked.interrupted = true;
    const runs: RunInterrupt[] = [];
    for (const runId of tracked.runs) runs.push(await this.cancel(runId));
    return { command_id: commandId, running: true, runs };
  }

  private async cancel(runId: string): Promise<RunInterrupt> {
    try {
      const run = await requestCancel(this.ws.engine, this.ws.engine, runId, this.ws.project);
      return { run_id: runId, status: run.status };
    } catch (error) {
      // Publishing (one transaction, not cancellable) or already finished: say so, change nothing.
      const err = coerceError(error);
      return { run_id: runId, status: 'not_cancelled', error: err.message };
    }
  }
}
