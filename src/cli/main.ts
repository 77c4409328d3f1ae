/**
 * The CLI is a thin shell: parse arguments, call the library, render. Errors are mapped to exit codes
 * in one place and printed as one `error:` line plus `hint:` lines (and with --json a JSON object on
 * stdout: src/cli/report-error.ts); stacks only with --debug.
 */
import { Command, CommanderError } from 'commander';
import { loadProject } from '../config/load.js';
import type { Project } from '../config/project.js';
import { TIDEMARK_VERSION } from '../version.js';
import { usageError } from '../errors.js';
import { registerCoreCommands } from './commands/core.js';
import { registerInspectCommands } from './commands/inspect.js';
import { registerVersionCommands } from './commands/versions.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerChangesCommands } from './commands/changes.js';
import { registerServeCommands } from './commands/serve.js';
import { registerRunsCommands } from './commands/runs.js';
import { delegateToServer } from '../server/client.js';
import { forgetStdoutWritten, stdoutWritten } from './context.js';
import { reportError } from './report-error.js';
import { registerConsumersCommands } from './commands/consumers.js';
import { registerSchemaCommands } from './commands/schema.js';
import { registerWorkerCommands } from './commands/worker.js';
import { registerCheckpointCommands } from './commands/checkpoint.js';
import { registerDedupeCommands } from './commands/dedupe.js';
import { failedCommand, isRequestedExit, silenceCommander, usageErrorFrom } from './usage-errors.js';

export function buildProgram(): Command {
  const program = new Command('tidemark')
    .description('Safe, scoped, audited, reversible backfills for partitioned SQL pipelines')
    .version(TIDEMARK_VERSION)
    .option('--project <dir>', 'project folder (default: the current folder or its nearest parent with tidemark.yaml)')
    .option('--json', 'machine-readable output with stable field names')
    .option('--actor <name>', 'who is acting (default: $TIDEMARK_ACTOR, else the OS user)')
    .option('--wait [seconds]', 'wait for a project held by another process instead of failing')
    .option('--read-only', 'open the DuckDB file read-only (as when it cannot be written): read commands work, write commands are refused')
    .option('--debug', 'print stack traces');
  registerCoreCommands(program);
  registerInspectCommands(program);
  registerDedupeCommands(program);
  registerVersionCommands(program);
  registerAuditCommands(program);
  registerChangesCommands(program);
  registerServeCommands(program);
  registerRunsCommands(program);
  registerConsumersCommands(program);
  registerSchemaCommands(program);
  registerWorkerCommands(program);
  registerCheckpointCommands(program);
  // Usage errors are reported by main() as every error is (src/cli/usage-errors.ts).
  silenceCommander(program);
  program.hook('preAction', (_program, command) => {
    refuseSwallowedFlags(command);
    checkGlobalOptions(command);
    refuseReadOnlyWhereUnkept(command);
  });
  return program;
}

/**
 * Commander gives a value-taking option the next word even when it is another of the command's flags:
 * `backfill … --reason --dry-run --yes` would publish for real with the reason "--dry-run", the dry run
 * asked for swallowed. A value that is a flag this command knows, or any `--word`, given as the next
 * word is refused before anything runs (no reason, actor, date or value is spelt that way; `--to -5` is
 * still a value). Written as one word, `--reason=--json` says the value is meant: the console passes
 * what a user typed that way.
 */
function refuseSwallowedFlags(command: Command): void {
  const flags = new Set<string>();
  for (let c: Command | null = command; c; c = c.parent) for (const o of c.options) for (const f of [o.long, o.short]) if (f) flags.add(f);
  flags.add('--help').add('-h');
  let root = command;
  while (root.parent) root = root.parent;
  const raw = (root as unknown as { rawArgs: string[] }).rawArgs;
  const asNextWord = (names: (string | undefined)[], value: string) => raw.some((word, i) => names.includes(word) && raw[i + 1] === value);
  for (let c: Command | null = command; c; c = c.parent) {
    for (const o of c.options) {
      const value: unknown = c.getOptionValue(o.attributeName());
      if (typeof value !== 'string' || !(flags.has(value) || /^--[a-z][a-z0-9-]*$/i.test(value))) continue;
      if (!asNextWord([o.long, o.short], value)) continue;
      throw usageError(`${o.long} has no value: it took the next flag, ${value}, as its value`, `give ${o.long} its value (${o.flags}) before ${value}`);
    }
  }
}

/**
 * Global options that would otherwise be misread without a word: an empty `--actor` (a script's unset
 * variable) would be recorded in the audit trail as nobody; a `--wait` value that is not seconds is
 * usually a word it swallowed (`tidemark run --wait daily_revenue` would run every dataset).
 */
function checkGlobalOptions(command: Command): void {
  const g = command.optsWithGlobals() as { actor?: string; wait?: string | boolean };
  if (g.actor !== undefined && g.actor.trim() === '') {
    throw usageError('--actor is empty: the audit trail records who acted', 'pass a name (--actor alice), or leave --actor out to record $TIDEMARK_ACTOR, else the OS user');
  }
  if (typeof g.wait === 'string' && !/^\d+(\.\d+)?$/.test(g.wait.trim())) {
    throw usageError(`--wait takes a number of seconds, got '${g.wait}'`, '--wait alone waits up to an hour, --wait 60 up to a minute; put --wait after the command\'s arguments');
  }
}

/**
 * `--read-only` is kept by every command that opens the project through the CLI's workspace
 * (cli/context.ts). `serve` and `init` do not: rather than ignore a flag meant to protect the
 * warehouse, they refuse it.
 */
function refuseReadOnlyWhereUnkept(command: Command): void {
  if (!(command.optsWithGlobals() as { readOnly?: boolean }).readOnly) return;
  if (command.name() === 'serve') throw usageError('serve cannot run read-only: it hosts write commands and delivers to consumers', 'drop --read-only; read commands run read-only on their own');
  if (command.name() === 'init') throw usageError('init creates a project: --read-only does not apply', 'drop --read-only');
}

/**
 * `tidemark audit log | head`: the reader closing the pipe early is not an error. The output is
 * dropped and the command finishes what it was doing (a write command still commits or rolls back
 * as it would), instead of dying on an unhandled EPIPE with a stack trace.
 */
let pipesWatched = false;
function ignoreClosedPipes(): void {
  if (pipesWatched) return; // main() runs more than once in one process under tests
  pipesWatched = true;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE' || error.code === 'ERR_STREAM_DESTROYED') return;
      // Any other output error: one line, as every error is reported, and a failure exit code.
      process.exitCode = 1;
      if (stream !== process.stderr) process.stderr.write(`error: cannot write the output: ${error.message}\n`);
    });
  }
}

export async function main(argv: string[]): Promise<number> {
  ignoreClosedPipes();
  forgetStdoutWritten(); // main() runs more than once in one process under tests
  const program = buildProgram();
  try {
    // Issue 7: while `tidemark serve` holds the project, commands are handed to it.
    const delegated = await delegateToServer(argv);
    if (delegated !== null) return delegated;
    await program.parseAsync(argv);
    return 0;
  } catch (caught) {
    if (caught instanceof CommanderError && isRequestedExit(caught)) return 0;
    const error = caught instanceof CommanderError ? usageErrorFrom(caught, failedCommand(caught), () => projectOf(program)) : caught;
    // Commands handed to `tidemark serve` report theirs there (src/server/hosted.ts); this is a local one.
    return reportError(error, argv, {
      stdout: (text) => void process.stdout.write(text),
      stderr: (text) => void process.stderr.write(text),
      stdoutUsed: stdoutWritten(),
    });
  }
}

/** The project a usage error's hint names datasets of, if there is one that loads (nothing is opened). */
function projectOf(program: Command): Project | undefined {
  try {
    return loadProject((program.opts() as { project?: string }).project ?? process.cwd());
  } catch {
    return undefined;
  }
}
