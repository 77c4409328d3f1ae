/**
 * README is the manual a user follows at 2 a.m.: every `tidemark …` command line it shows must still
 * parse with the real CLI. Each invocation is handed to the commander program src/cli/main.ts builds,
 * with every action replaced by a no-op, so what is checked is exactly what the parser accepts
 * (command path, options of that command or global ones, a value for each option that takes one,
 * required arguments) and nothing runs. The Commands table's synopses are checked too: each names a
 * command, and each flag there is an option of it.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommanderError, type Command, type Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const README = readFileSync(path.join(ROOT, 'README.md'), 'utf8');

interface Invocation {
  line: number;
  text: string;
}

/** An elided part of a command line (`tidemark backfill … --dry-run`): its arguments may be left out. */
const ELISION = /^(…|\.\.\.)$/;

/**
 * Every `tidemark …` command line in the markdown, with the line it starts on: shell lines of fenced
 * blocks (`$ tidemark …`, `npx tidemark …`, or after `&&`), and code spans that start with the command
 * (also spans running over a line break, and commands quoted inside a sample message).
 */
export function extractInvocations(markdown: string): Invocation[] {
  const lines = markdown.split('\n');
  const found: Invocation[] = [];
  let fence: string | null = null;
  // Prose between fences, with the line each character came from, so spans may cross lines.
  let prose = '';
  let proseLines: number[] = [];
  const flushProse = () => {
    for (const m of prose.matchAll(/`((?:npx )?tidemark [a-z<][^`]*)`/g)) {
      found.push({ line: proseLines[m.index], text: m[1].replace(/\s+/g, ' ') });
    }
    prose = '';
    proseLines = [];
  };
  lines.forEach((raw, i) => {
    const lineNo = i + 1;
    const fenceMark = /^\s*```(\w*)/.exec(raw);
    if (fenceMark) {
      if (fence === null) {
        flushProse();
        fence = fenceMark[1];
      } else fence = null;
      return;
    }
    if (fence === null) {
      for (let c = 0; c <= raw.length; c++) proseLines.push(lineNo);
      prose += `${raw}\n`;
      return;
    }
    if (!['', 'sh', 'bash', 'shell', 'console'].includes(fence)) return; // ts, yaml, sql: not command lines
    const shellLine = /^\s*\$ /.test(raw) || /^\s*(npx )?tidemark /.test(raw) || fence !== '';
    if (shellLine) {
      for (const command of splitShell(raw.replace(/^\s*\$ /, ''))) {
        if (/^(npx )?tidemark\s/.test(command)) found.push({ line: lineNo, text: command });
      }
    } else {
      // Sample output: a hint quoting the command to run next is a command line too.
      for (const m of raw.matchAll(/`((?:npx )?tidemark [a-z][^`]*)`/g)) found.push({ line: lineNo, text: m[1] });
    }
  });
  flushProse();
  // A span may hold a shell pipeline (`tidemark ready … && ./export.sh`): keep the tidemark part.
  return found
    .flatMap((inv) => splitShell(inv.text).filter((c) => /^(npx )?tidemark\s/.test(c)).map((text) => ({ line: inv.line, text })))
    .sort((a, b) => a.line - b.line);
}

/** Split a shell line at `&&`, `||`, `;`, `|` and a `#` comment, outside quotes. */
function splitShell(line: string): string[] {
  const parts: string[] = [];
  let current = '';
  let quote: string | null = null;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) quote = null;
      current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      current += ch;
    } else if (ch === '#' && (i === 0 || /\s/.test(line[i - 1]))) {
      break;
    } else if (ch === ';' || ch === '|' || ch === '&') {
      if (line[i + 1] === ch) i++;
      parts.push(current.trim());
      current = '';
    } else current += ch;
  }
  parts.push(current.trim());
  return parts.filter(Boolean);
}

interface Word {
  text: string;
  /** Quoted words are values as written: a quoted "…" is a reason of "…", not an elision. */
  quoted: boolean;
}

/** Shell words: whitespace-separated, with single and double quotes grouping and removed. */
export function tokenize(command: string): Word[] {
  const words: Word[] = [];
  let current: Word | null = null;
  let quote: string | null = null;
  for (const ch of command) {
    if (quote) {
      if (ch === quote) quote = null;
      else current!.text += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      current ??= { text: '', quoted: false };
      current.quoted = true;
    } else if (/\s/.test(ch)) {
      if (current !== null) words.push(current);
      current = null;
    } else {
      current ??= { text: '', quoted: false };
      current.text += ch;
    }
  }
  if (quote) throw new Error(`unbalanced ${quote} in: ${command}`);
  if (current !== null) words.push(current);
  return words;
}

function allCommands(command: Command): Command[] {
  return [command, ...command.commands.flatMap(allCommands)];
}

function commandPath(command: Command): string {
  const names: string[] = [];
  for (let c: Command | null = command; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The options a command accepts: its own and those of every command above it (the global ones). */
function optionsOf(command: Command): Option[] {
  const options: Option[] = [];
  for (let c: Command | null = command; c; c = c.parent) options.push(...c.options);
  return options;
}

function findOption(command: Command, flag: string): Option | undefined {
  return optionsOf(command).find((o) => o.long === flag || o.short === flag || (o.negate && o.long === flag));
}

/**
 * What is wrong with one command line, as the real parser sees it (empty: nothing). Synopsis notation
 * is read as the lines it stands for: `[…]` around optional parts, and `…` for arguments left out.
 */
export async function checkInvocation(text: string): Promise<string[]> {
  const words = tokenize(text.replace(/^npx /, ''));
  if (words[0]?.text !== 'tidemark') return [`not a tidemark command line`];
  const synopsis = words.some((w) => !w.quoted && /[[\]]/.test(w.text));
  const args = words
    .slice(1)
    .map((w) => (w.quoted ? w.text : w.text.replace(/[[\]]/g, '')))
    .filter((w, i) => w !== '' || words[i + 1].quoted);
  const elided = synopsis || words.some((w) => !w.quoted && ELISION.test(w.text));

  const program = buildProgram();
  // The contract line, `tidemark <command> [--global …]`: only the global options are there to check.
  if (args[0] === '<command>') {
    return args.filter((w) => w.startsWith('-')).filter((flag) => !program.options.some((o) => o.long === flag)).map((flag) => `${flag} is not a global option`);
  }

  let reached: Command | null = null;
  for (const command of allCommands(program)) {
    command.exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
    if (command.commands.length === 0 && command !== program) command.action((...actionArgs: unknown[]) => void (reached = actionArgs.at(-1) as Command));
  }
  const problems: string[] = [];
  try {
    await program.parseAsync(args, { from: 'user' });
  } catch (error) {
    const code = error instanceof CommanderError ? error.code : '';
    const tolerated =
      (elided && ['commander.missingArgument', 'commander.missingMandatoryOptionValue', 'commander.excessArguments'].includes(code)) ||
      // Prose naming a command (`tidemark cancel` stops a run…) is not a command line to run as is.
      (['commander.missingArgument', 'commander.missingMandatoryOptionValue'].includes(code) && isCommandPath(program, args));
    if (code === 'commander.help' || code === 'commander.helpDisplayed') problems.push(`'${args.join(' ')}' is not a complete command: the CLI shows its help`);
    else if (!tolerated) problems.push((error instanceof Error ? error.message : String(error)).split('\n')[0].replace(/^error: /, ''));
  }

  // commander gives a value-taking option the next word even when it is another flag
  // (`--reason --yes` is a reason of "--yes"): a README line doing so has lost the value.
  const resolved = reached as Command | null;
  if (resolved) {
    args.forEach((word, i) => {
      if (!word.startsWith('--') || word.includes('=')) return;
      const option = findOption(resolved, word);
      const next = args[i + 1];
      if (option?.required && next?.startsWith('--')) problems.push(`${word} takes a value (${option.flags}) but is followed by ${next}`);
    });
  }
  return problems;
}

/** Whether the words are exactly a command's name (`cancel`, `checkpoint validate`), nothing more. */
function isCommandPath(program: Command, args: string[]): boolean {
  let command: Command | undefined = program;
  for (const word of args) command = command?.commands.find((c) => c.name() === word);
  return command !== undefined && command !== program;
}

/**
 * The Commands table's first column: `backfill DATASET --from --to --reason TEXT [--downstream] …`,
 * `checkpoint show\|validate DATASET`, `lock` / `unlock …`. Each flag must belong to one of the
 * commands the cell names (or be global), and each named command must exist.
 */
export function checkCommandsTable(markdown: string): string[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l === '## Commands');
  const program = buildProgram();
  const problems: string[] = [];
  for (let i = start + 1; i < lines.length && !lines[i].startsWith('## '); i++) {
    const cell = /^\| (.+?) \| .* \|$/.exec(lines[i])?.[1];
    if (!cell || cell === 'command' || /^-+$/.test(cell.replace(/\|/g, ''))) continue;
    for (const span of cell.matchAll(/`([^`]+)`/g)) {
      const synopsis = span[1].replace(/\\\|/g, '|');
      const named = namedCommands(program, synopsis);
      if (named.length === 0) {
        problems.push(`README.md:${i + 1}: \`${synopsis}\`: no such command`);
        continue;
      }
      for (const flag of new Set(synopsis.match(/--[a-z][a-z-]*/g) ?? [])) {
        if (!named.some((c) => findOption(c, flag))) problems.push(`README.md:${i + 1}: \`${synopsis}\`: ${flag} is not an option of ${named.map(commandPath).join(', ')}`);
      }
    }
  }
  return problems;
}

/** The commands a synopsis names: `audit log …` → audit log; `consumers list|status|redeliver …|verify RUN` → all four. */
function namedCommands(program: Command, synopsis: string): Command[] {
  const words = synopsis.split(/\s+/);
  const top = program.commands.find((c) => c.name() === words[0]);
  if (!top) return [];
  if (top.commands.length === 0) return [top];
  // A group: every subcommand name that appears as a word or an alternative in the synopsis.
  const alternatives = new Set(synopsis.split(/[\s|[\]]+/));
  return top.commands.filter((c) => alternatives.has(c.name()));
}

describe('README command lines', () => {
  const invocations = extractInvocations(README);

  it('finds the command lines README shows', () => {
    // A floor, so a change to the extraction that silently finds nothing fails here.
    expect(invocations.length).toBeGreaterThan(40);
    const texts = invocations.map((i) => i.text);
    expect(texts).toContain('npx tidemark plan daily_revenue --last 7d --downstream');
    expect(texts).toContain('tidemark audit verify --data');
    expect(texts.some((t) => t.startsWith('tidemark restore daily_revenue --run RUN --downstream'))).toBe(true); // a span over a line break
  });

  it('every tidemark command line in README parses with the real CLI', async () => {
    const problems: string[] = [];
    for (const inv of invocations) {
      for (const problem of await checkInvocation(inv.text)) problems.push(`README.md:${inv.line}: \`${inv.text}\`: ${problem}`);
    }
    expect(problems, problems.join('\n')).toEqual([]);
  });

  it('every command and flag in the Commands table exists', () => {
    const problems = checkCommandsTable(README);
    expect(problems, problems.join('\n')).toEqual([]);
  });
});

describe('the README command-line checker', () => {
  // The checks above pass on a correct README; these show each would fail on a wrong one.
  it.each([
    ['tidemark backfill daily_revenue --last 7d --reasn "x"', /unknown option '--reasn'/],
    ['tidemark consumers redelivr --dead', /unknown command/],
    ['tidemark audit lineage daily_revenue', /--partition/],
    ['tidemark diff --dataset daily_revenue', /missing required argument 'run'/],
    ['tidemark backfill daily_revenue --from 2026-03-01 --to 2026-03-07 --reason --yes', /--reason (takes a value|has no value)/],
    ['tidemark changes daily_revenue --since', /argument missing/],
    ['tidemark checkpoint', /not a complete command/],
    ['tidemark <command> [--project DIR] [--verbose]', /--verbose is not a global option/],
  ])('%s', async (line, problem) => {
    expect((await checkInvocation(line)).join('\n')).toMatch(problem);
  });

  it.each([
    'tidemark backfill … --dry-run',
    'tidemark restore daily_revenue --version 3 --from 2026-03-01 --to 2026-03-01 --reason "r" --yes',
    'tidemark worker [--pool P] [--concurrency N]',
    'tidemark status --json --project shop',
    'tidemark cancel', // prose naming a command
    'tidemark changes', // … one with a required option
  ])('accepts %s', async (line) => {
    expect(await checkInvocation(line)).toEqual([]);
  });

  it('reads command lines out of fences, spans across lines and shell pipelines', () => {
    const markdown = ['```sh', 'cp a b && npx tidemark run   # note', '```', 'Then `tidemark ready x', '--partition 2026-03-01 && ./export.sh`.'].join('\n');
    expect(extractInvocations(markdown)).toEqual([
      { line: 2, text: 'npx tidemark run' },
      { line: 4, text: 'tidemark ready x --partition 2026-03-01' },
    ]);
  });

  it('finds a flag in the Commands table that the command lacks', () => {
    const table = ['## Commands', '| command | does |', '|---|---|', '| `gc --reason TEXT [--everything]` | x |', '## Next'].join('\n');
    expect(checkCommandsTable(table)).toEqual(['README.md:4: `gc --reason TEXT [--everything]`: --everything is not an option of gc']);
  });
});
