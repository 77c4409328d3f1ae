/**
 * Commander's own usage errors (a missing argument, an unknown option, a command group without its
 * subcommand) reported as every other error is: one `error:` line, `hint:` lines that say what to type
 * (for a missing dataset, the datasets the command takes: the incremental models for `checkpoint …`),
 * and with `--json` one JSON object on stdout. Commander would print its own line on stderr only, so a
 * script piping `--json` to a parser got nothing at all to read.
 *
 * Commander is kept quiet (`silenceCommander`) and each command's failures are tagged with the command
 * that raised them (`failedCommand`), so the usage line and the names in the hint are that command's.
 */
import { CommanderError, type Command } from 'commander';
import { TidemarkError } from '../errors.js';
import { incrementalModelsHint, type Project } from '../config/project.js';

const raisedBy = new WeakMap<CommanderError, Command>();

/** Every command of the tree prints no error line of its own and tags the errors it raises. */
export function silenceCommander(root: Command): void {
  const visit = (cmd: Command) => {
    cmd.configureOutput({ outputError: () => {} });
    cmd.exitOverride((error) => {
      raisedBy.set(error, cmd);
      throw error;
    });
    for (const sub of cmd.commands) visit(sub);
  };
  visit(root);
}

/** The command whose parsing raised `error`, when it was tagged. */
export function failedCommand(error: CommanderError): Command | undefined {
  return raisedBy.get(error);
}

/** Commander's exits that are not failures: --help and --version asked for. */
export function isRequestedExit(error: CommanderError): boolean {
  return error.exitCode === 0 || error.code === 'commander.helpDisplayed' || error.code === 'commander.version';
}

/**
 * The usage error to report for a commander failure. `project` is asked only for a missing dataset or
 * source argument (to name them) and may return undefined: no project here, or one that does not load.
 */
export function usageErrorFrom(error: CommanderError, command: Command | undefined, project: () => Project | undefined): TidemarkError {
  const path = command ? commandPath(command) : 'tidemark';
  const subcommands = command?.commands.map((c) => c.name()).filter((n) => n !== 'help') ?? [];
  const usage = !command?.parent
    ? 'tidemark --help lists the commands'
    : subcommands.length
      ? `${path} takes a subcommand: ${subcommands.join(', ')} (${path} --help)`
      : `usage: ${path} ${command.usage()} (${path} --help for every option)`;
  if (error.code === 'commander.help') {
    // A command group typed alone (`tidemark checkpoint`): commander has printed its help on stderr.
    const message = command?.parent ? `${path} needs a subcommand: ${subcommands.join(', ')}` : `tidemark needs a command`;
    return new TidemarkError('USAGE', message, { hint: command?.parent ? `e.g. ${path} ${subcommands[0]} --help` : usage });
  }
  const [first, ...rest] = error.message.split('\n');
  const message = first.replace(/^error: /, '');
  const hints: string[] = [];
  // commander's `(Did you mean --from?)`
  for (const line of rest) {
    const suggestion = /^\(Did you mean (.+)\?\)$/.exec(line.trim());
    if (suggestion) hints.push(`did you mean ${suggestion[1]}?`);
  }
  const missing = /^missing required argument '(\w+)'$/.exec(message)?.[1];
  if (missing && command) {
    const names = candidates(missing, command, project);
    if (names) hints.push(names);
  }
  hints.push(usage);
  return new TidemarkError('USAGE', message, { hint: hints.join('\n') });
}

/** What a missing argument could be, from the project: its datasets, sources, or incremental models. */
function candidates(argument: string, command: Command, project: () => Project | undefined): string | undefined {
  if (argument === 'run') return '`tidemark runs` lists the recent runs';
  if (argument !== 'dataset' && argument !== 'source') return undefined;
  const p = project();
  if (!p) return undefined;
  const all = [...p.datasets.values()];
  if (command.parent?.name() === 'checkpoint') return incrementalModelsHint(p);
  const names = (argument === 'source' ? all.filter((d) => d.kind === 'source') : all).map((d) => d.name);
  if (!names.length) return `this project declares no ${argument === 'source' ? 'sources' : 'datasets'} yet`;
  return `${argument === 'source' ? 'sources' : 'datasets'} in this project: ${names.join(', ')}`;
}

/** `tidemark checkpoint validate`: the command as typed. */
function commandPath(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}
