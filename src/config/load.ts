/**
 * Loads tidemark.yaml: environment interpolation, schema validation with YAML paths and line numbers,
 * model SQL files, refs, dependency edges and cycle detection. Every error names the file and the path.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { isMap, isScalar, isSeq, parseDocument, LineCounter, type Node as YamlNode, type YAMLError } from 'yaml';
import type { z } from 'zod';
import { TidemarkError } from '../errors.js';
import type { Grain } from '../core/grain.js';
import { projectSchema, type ProjectFile } from './schema.js';
import { normalizeType } from './types.js';
import { checkSchemaHistory } from './adapters.js';
import { parseRefs } from './template.js';
import { modelStatement } from './model-sql.js';
import { fileSystemError } from '../io/fs-errors.js';
import type { DatasetSpec, ModelSpec, Project, SourceSpec } from './project.js';

export const CONFIG_FILE = 'tidemark.yaml';
export const STATE_DIR = '.tidemark';

export interface LoadOptions {
  env?: NodeJS.ProcessEnv;
}

/** Finds the project folder: `dir` itself, or the nearest parent holding tidemark.yaml. */
export function findProjectDir(dir: string): string {
  let current = path.resolve(dir);
  for (;;) {
    if (existsSync(path.join(current, CONFIG_FILE))) return current;
    const parent = path.dirname(current);
    if (parent === current) {
      throw new TidemarkError('CONFIG', `no ${CONFIG_FILE} found in ${path.resolve(dir)} or its parents`, {
        hint: 'run `tidemark init DIR --example shop` to create a project, or pass --project DIR',
      });
    }
    current = parent;
  }
}

export function loadProject(dir: string, options: LoadOptions = {}): Project {
  const projectDir = findProjectDir(dir);
  const configPath = path.join(projectDir, CONFIG_FILE);
  const text = readProjectFile(configPath, CONFIG_FILE);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true });
  if (doc.errors.length > 0) throw yamlSyntaxError(doc.errors[0], text);
  if (doc.contents === null) {
    throw new TidemarkError('CONFIG', `${CONFIG_FILE} is empty`, {
      hint: 'it needs at least name:, engine: and datasets: (`tidemark init DIR --example shop` writes a complete one to copy from)',
    });
  }
  const secrets: string[] = [];
  const raw = interpolateEnv(doc.toJS(), options.env ?? process.env, secrets, []);
  const parsed = projectSchema.safeParse(raw);
  if (!parsed.success) throw configError(parsed.error, doc.contents, lineCounter);
  const file = parsed.data;
  // `tidemark.yaml:LINE: datasets.x.y`, for the checks made after parsing.
  const located = (at: string) => {
    const line = lineOf(doc.contents, at.replace(/\[(\d+)\]/g, '.$1').split('.'), lineCounter);
    return `${CONFIG_FILE}${line ? `:${line}` : ''}: ${at}`;
  };

  const hash = createHash('sha256').update(text);
  const datasets = new Map<string, DatasetSpec>();
  for (const [name, ds] of Object.entries(file.datasets)) {
    const common = {
      name,
      partitionColumn: ds.partition.column,
      grain: ds.partition.grain as Grain,
      key: ds.key,
      // A check's SQL is one query, like a model's: trimmed, and refused with a second statement.
      checks: ds.checks.map((c, i) => ('sql' in c ? { ...c, sql: modelStatement(c.sql, located(`datasets.${name}.checks[${i}].sql`)) } : c)),
      protect: ds.protect ?? { frozen: [] },
      consumers: ds.consumers,
    };
    for (const c of ds.consumers) {
      if (!file.consumers[c]) {
        throw new TidemarkError('CONFIG', `${CONFIG_FILE}: datasets.${name}.consumers: unknown consumer '${c}'`, {
          hint: `declare it under consumers: (known: ${Object.keys(file.consumers).join(', ') || 'none'})`,
        });
      }
    }
    if (ds.kind === 'source') {
      const columns = Object.entries(ds.schema.current).map(([n, t]) => ({ name: n, type: normalizeType(t)! }));
      const at = `datasets.${name}`;
      requireColumn(columns, ds.partition.column, `${at}.partition.column`);
      for (const k of ds.key) requireColumn(columns, k, `${at}.key`);
      // Schema evolution: history entries keep their YAML path (`at`) so later engine checks can name it.
      const history = ds.schema.history.map((h, i) => ({
        version: h.version,
        columns: Object.entries(h.columns).map(([n, t]) => ({ name: n, type: normalizeType(t)! })),
        adapt: h.adapt,
        at: `${at}.schema.history[${i}]`,
      }));
      checkSchemaHistory(located, name, columns, history);
      const spec: SourceSpec = {
        ...common,
        kind: 'source',
        format: ds.format,
        ...(ds.csv ? { csv: ds.csv } : {}),
        columns,
        history: history.sort((a, b) => b.version - a.version),
      };
      datasets.set(name, spec);
    } else {
      const sqlPath = path.resolve(projectDir, ds.sql);
      if (!existsSync(sqlPath)) {
        throw new TidemarkError('CONFIG', `${CONFIG_FILE}: datasets.${name}.sql: model file ${ds.sql} does not exist`);
      }
      const sqlTemplate = modelStatement(readProjectFile(sqlPath, ds.sql), ds.sql);
      hash.update(`\0${name}\0${sqlTemplate}`);
      const refs = parseRefs(sqlTemplate, ds.sql);
      const upstream = refs.filter((r) => r !== name).map((r) => ({ dataset: r, lookback: ds.depends_on[r]?.lookback ?? 0 }));
      for (const dep of Object.keys(ds.depends_on)) {
        if (!refs.includes(dep)) {
          throw new TidemarkError('CONFIG', `${CONFIG_FILE}: datasets.${name}.depends_on.${dep}: ${ds.sql} never reads {{ ref('${dep}') }}`);
        }
      }
      if (ds.depends_on_past && !ds.columns) {
        throw new TidemarkError('CONFIG', `${CONFIG_FILE}: datasets.${name}.columns: a depends_on_past model must declare its output columns`, {
          hint: 'its first partition reads its own (still empty) past, so the shape cannot be inferred: add columns: { day: DATE, … }',
        });
      }
      if (refs.includes(name) && !ds.depends_on_past) {
        throw new TidemarkError('CONFIG', `${CONFIG_FILE}: datasets.${name}: ${ds.sql} reads itself`, {
          hint: 'set depends_on_past: true for a cumulative model that reads its own previous partition',
        });
      }
      const spec: ModelSpec = {
        ...common,
        kind: 'model',
        sqlFile: ds.sql,
        sqlTemplate,
        upstream,
        dependsOnPast: ds.depends_on_past,
        columns: ds.columns ? Object.entries(ds.columns).map(([n, t]) => ({ name: n, type: normalizeType(t)! })) : undefined,
        incremental: ds.incremental,
        onSchemaChange: ds.on_schema_change,
      };
      datasets.set(name, spec);
    }
  }
  for (const ds of datasets.values()) {
    if (ds.kind !== 'model') continue;
    for (const up of ds.upstream) {
      if (!datasets.has(up.dataset)) {
        throw new TidemarkError('CONFIG', `${ds.sqlFile}: ref('${up.dataset}') names an unknown dataset`, {
          hint: `datasets in this project: ${[...datasets.keys()].join(', ')}`,
        });
      }
    }
  }

  return {
    dir: projectDir,
    configPath,
    name: file.name,
    engine: resolveEngine(file, projectDir, options.env ?? process.env),
    pools: resolvePools(file),
    guards: file.guards,
    retention: file.retention,
    datasets,
    order: topologicalOrder(datasets),
    consumers: file.consumers,
    configHash: hash.digest('hex'),
    secrets,
  };
}

/** A project file's text; one that cannot be read (permissions, a folder in its place) says so. */
function readProjectFile(file: string, label: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EISDIR') throw new TidemarkError('CONFIG', `${label} is a folder, not a file`, { hint: `put the file at ${file}` });
    throw fileSystemError(error, file, 'read', label === CONFIG_FILE ? 'the project file' : 'a model file') ?? error;
  }
}

function requireColumn(columns: { name: string }[], name: string, at: string): void {
  if (!columns.some((c) => c.name === name)) {
    throw new TidemarkError('CONFIG', `${CONFIG_FILE}: ${at}: column '${name}' is not in schema.current`);
  }
}

function resolveEngine(file: ProjectFile, dir: string, env: NodeJS.ProcessEnv): Project['engine'] {
  const url = env.TIDEMARK_DATABASE_URL;
  if (file.engine.kind === 'postgres') return { kind: 'postgres', url: file.engine.url, schema: file.engine.schema };
  if (url && env.TIDEMARK_ENGINE === 'postgres') return { kind: 'postgres', url, schema: 'tidemark_data' };
  if (file.engine.path === undefined) return { kind: 'duckdb', path: path.resolve(dir, STATE_DIR, 'warehouse.duckdb') };
  const target = path.resolve(dir, file.engine.path);
  // The default .tidemark/ folder is created on first use; a configured folder is not. A missing one
  // is a typo or a volume that is not mounted, and creating it would give an empty warehouse that
  // looks like every partition is missing.
  const folder = path.dirname(target);
  if (!existsSync(folder)) {
    throw new TidemarkError('CONFIG', `${CONFIG_FILE}: engine.path: folder ${folder} does not exist`, {
      hint: `fix engine.path, mount the volume, or create the folder (mkdir -p ${folder}) for a new warehouse`,
    });
  }
  if (existsSync(target) && statSync(target).isDirectory()) {
    throw new TidemarkError('CONFIG', `${CONFIG_FILE}: engine.path: ${target} is a folder, not a DuckDB file`, {
      hint: `name the database file inside it, e.g. engine: { kind: duckdb, path: ${path.join(file.engine.path, 'warehouse.duckdb')} }`,
    });
  }
  return { kind: 'duckdb', path: target };
}

const DEFAULT_POOLS = {
  production: { slots: 2, priority: 10 },
  backfill: { slots: 1, priority: 1 },
};

function resolvePools(file: ProjectFile): Project['pools'] {
  const pools: Project['pools'] = { ...DEFAULT_POOLS };
  for (const [name, p] of Object.entries(file.pools)) pools[name] = { ...p };
  return pools;
}

/** Datasets in dependency order; a cycle is a config error naming it. */
function topologicalOrder(datasets: Map<string, DatasetSpec>): string[] {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, trail: string[]): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'visiting') {
      const cycle = [...trail.slice(trail.indexOf(name)), name];
      throw new TidemarkError('CONFIG', `${CONFIG_FILE}: dependency cycle: ${cycle.join(' → ')}`);
    }
    state.set(name, 'visiting');
    const ds = datasets.get(name)!;
    if (ds.kind === 'model') for (const up of ds.upstream) visit(up.dataset, [...trail, name]);
    state.set(name, 'done');
    order.push(name);
  };
  for (const name of [...datasets.keys()].sort()) visit(name, []);
  return order;
}

const ENV_REF = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

function interpolateEnv(value: unknown, env: NodeJS.ProcessEnv, secrets: string[], at: (string | number)[]): unknown {
  if (typeof value === 'string') {
    return value.replace(ENV_REF, (_m, name: string, fallback: string | undefined) => {
      const v = env[name] ?? fallback;
      if (v === undefined) {
        // Worded without `secret: …` or `NAME=…`: errors go through the redactor, which reads those as a
        // credential and its value (`consumers.x.secret: *** variable CACHE_SECRET is not set`).
        throw new TidemarkError('CONFIG', `${CONFIG_FILE}: ${at.join('.')} needs environment variable ${name}, which is not set`, {
          hint: `set and export ${name} in the shell that runs tidemark (\`tidemark serve\` reads it when it starts)`,
        });
      }
      if (v.length >= 4) secrets.push(v);
      return v;
    });
  }
  if (Array.isArray(value)) return value.map((v, i) => interpolateEnv(v, env, secrets, [...at, i]));
  if (value && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateEnv(v, env, secrets, [...at, k])]));
  }
  return value;
}

/** Hints for the YAML mistakes people make by hand; any other syntax error gets its line. */
const YAML_HINTS: Record<string, (key: string) => string> = {
  TAB_AS_INDENT: () => 'indent with spaces: YAML does not allow tabs for indentation',
  DUPLICATE_KEY: (key) => `a key may appear once per mapping: merge or rename the second ${key ? `'${key}'` : 'one'}`,
};

/**
 * `tidemark.yaml:LINE: what is wrong`, without the library's `at line L, column C:` tail and code
 * excerpt (several lines, where the CLI promises one).
 */
function yamlSyntaxError(error: YAMLError, text: string): TidemarkError {
  const line = error.linePos?.[0].line;
  const what = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
  const key = line ? (/^\s*([^:#\s][^:#]*?)\s*:/.exec(text.split('\n')[line - 1] ?? '')?.[1] ?? '') : '';
  const hint = YAML_HINTS[error.code]?.(key) ?? `fix the YAML syntax${line ? ` on line ${line} (or just above it)` : ''}`;
  return new TidemarkError('CONFIG', `${CONFIG_FILE}${line ? `:${line}` : ''}: ${what}`, { hint });
}

function configError(error: z.ZodError, root: unknown, lines: LineCounter): TidemarkError {
  const issue = error.issues[0];
  const at = issue.path.map(String);
  const where = at.length ? at.join('.') : '(top level)';
  const line = lineOf(root, at, lines);
  let message = issue.message;
  if (issue.code === 'invalid_value' && 'values' in issue) message = `expected one of ${(issue.values as unknown[]).join(', ')}`;
  if (issue.code === 'unrecognized_keys') message = `unknown field ${issue.keys.map((k) => `'${k}'`).join(', ')}`;
  // A bad name (a dataset called `fx rates` or `o'brien`): say what a name may be, not "Invalid key".
  if (issue.code === 'invalid_key') message = `'${at[at.length - 1]}' is not a valid name: ${issue.issues[0]?.message ?? message}`;
  return new TidemarkError('CONFIG', `${CONFIG_FILE}${line ? `:${line}` : ''}: ${where}: ${message}`, { hint: misplacedFieldHint(issue, at) });
}

/**
 * `depends_on: { cumulative: { depends_on_past: true } }` reads like how a partition maps, but
 * depends_on_past is a field of the model itself (it reads its own previous partition).
 */
function misplacedFieldHint(issue: z.core.$ZodIssue, at: string[]): string | undefined {
  if (issue.code !== 'unrecognized_keys' || !issue.keys.includes('depends_on_past') || at[0] !== 'datasets' || at[2] !== 'depends_on') return undefined;
  return `depends_on_past is a field of the model itself: datasets.${at[1]}.depends_on_past: true (with its output columns: under datasets.${at[1]}.columns)`;
}

function lineOf(root: unknown, at: string[], lines: LineCounter): number | null {
  let node = root as YamlNode | null;
  let best: YamlNode | null = node;
  // The key a map value hangs from: a block map or list value starts on the line after its key,
  // at its first entry, so the key's own line is where the error is.
  let bestKey: YamlNode | null = null;
  for (const key of at) {
    let keyNode: YamlNode | null = null;
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? String(p.key.value) : String(p.key)) === key);
      keyNode = (pair?.key as YamlNode | undefined) ?? null;
      node = (pair?.value as YamlNode | undefined) ?? null;
    } else if (isSeq(node)) node = (node.get(Number(key), true) as YamlNode | undefined) ?? null;
    else node = null;
    if (!node) break;
    best = node;
    bestKey = keyNode;
  }
  const anchor = best && (isMap(best) || isSeq(best)) && bestKey && isScalar(bestKey) ? bestKey : best;
  const range = anchor && (isScalar(anchor) || isMap(anchor) || isSeq(anchor)) ? anchor.range : undefined;
  return range ? lines.linePos(range[0]).line : null;
}
