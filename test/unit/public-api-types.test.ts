/**
 * The public API's types, as a user of the package sees them (src/index.ts, read with the TypeScript
 * compiler: no build needed):
 *  - every named type the entry's exports reach — parameters, results, fields, recursively — is
 *    exported from the entry itself, or a user could not name it (to type a variable that holds a
 *    result, or a helper that builds a request);
 *  - no field of a public type is a test hook: those live in the internal option types that extend the
 *    public ones (InternalRunOptions…), which the tests import from the modules.
 */
import path from 'node:path';
import ts from 'typescript';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/project.js';

const ENTRY = path.join(ROOT, 'src', 'index.ts');

/**
 * Reached from the public API, and internal on purpose: not exported, and not walked into.
 */
const INTERNAL: Record<string, string> = {
  // `ws.engine`: the database driver Tidemark's own modules share (connections, SQL dialect, DDL). It
  // is not an API: users read data with `query(ws, sql)`, and exporting it would freeze every engine
  // method and the ten types its signatures use.
  Engine: 'src/engines/engine.ts',
};

/** Fields the tests set and users must not: each lives in an internal type (InternalRunOptions…). */
const TEST_HOOKS = ['RunOptions.clock', 'RunOptions.scheduler', 'RunOptions.beforeStart', 'GcOptions.now', 'DispatchOptions.now', 'DispatchOptions.sleep'];

/** Options of the command line alone: a field of that name in a public type would do nothing. */
const CLI_ONLY = ['RunOptions.yes'];

const NAMED = ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias | ts.SymbolFlags.Enum | ts.SymbolFlags.Class;

interface PublicSurface {
  /** Each named type the exports reach, with the path it was first reached by. */
  reached: Map<ts.Symbol, string>;
  exported: Set<ts.Symbol>;
  /** `Type.member` for each member of a reached interface or class, with its doc comment. */
  members: Map<string, string>;
}

/** Where a named type is declared, relative to the repo: `src/api/runs.ts#RunSummary`. */
function nameOf(symbol: ts.Symbol): string {
  const file = symbol.declarations?.[0]?.getSourceFile().fileName ?? '?';
  return `${path.relative(ROOT, file)}#${symbol.name}`;
}

/** Types of the language, of Node and of dependencies: not Tidemark's to export. */
function isForeign(symbol: ts.Symbol, program: ts.Program): boolean {
  return (symbol.declarations ?? []).every((d) => {
    const file = d.getSourceFile();
    return program.isSourceFileDefaultLibrary(file) || program.isSourceFileFromExternalLibrary(file) || file.fileName.includes('/node_modules/');
  });
}

/** Private and protected members and `#fields` are not part of a class's public surface. */
function isPublicMember(member: ts.Symbol): boolean {
  return !(member.declarations ?? []).some(
    (d) => (ts.getCombinedModifierFlags(d) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0 || (ts.isPropertyDeclaration(d) && ts.isPrivateIdentifier(d.name)),
  );
}

function publicSurface(): PublicSurface {
  const config = ts.getParsedCommandLineOfConfigFile(path.join(ROOT, 'tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} });
  const program = ts.createProgram([ENTRY], { ...config!.options, noEmit: true });
  const checker = program.getTypeChecker();
  const entry = checker.getSymbolAtLocation(program.getSourceFile(ENTRY)!)!;
  const resolve = (s: ts.Symbol) => (s.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(s) : s);

  const exported = new Set(checker.getExportsOfModule(entry).map(resolve));
  const reached = new Map<ts.Symbol, string>();
  const members = new Map<string, string>();
  const seen = new Set<ts.Type>();

  function visitValue(symbol: ts.Symbol, via: string): void {
    const declaration = symbol.valueDeclaration ?? symbol.declarations?.[0];
    if (declaration) visitType(checker.getTypeOfSymbolAtLocation(symbol, declaration), via);
  }

  function visitSignature(signature: ts.Signature, via: string): void {
    for (const p of signature.typeParameters ?? []) visitType(p, via);
    for (const p of signature.parameters) visitValue(p, `${via}(${p.name})`);
    visitType(signature.getReturnType(), `${via}()`);
  }

  /** Properties, call, construct and index signatures; `owner` names the members of a named type. */
  function visitMembers(type: ts.Type, via: string, owner?: string): void {
    for (const member of checker.getPropertiesOfType(type)) {
      if (!isPublicMember(member)) continue;
      if (owner) members.set(`${owner}.${member.name}`, ts.displayPartsToString(member.getDocumentationComment(checker)));
      visitValue(member, `${via}.${member.name}`);
    }
    for (const s of type.getCallSignatures()) visitSignature(s, via);
    for (const s of type.getConstructSignatures()) visitSignature(s, `new ${via}`);
    for (const info of checker.getIndexInfosOfType(type)) visitType(info.type, `${via}[]`);
  }

  /** Records a named type, then walks what its declaration reaches. */
  function visitNamed(symbol: ts.Symbol, via: string): void {
    if (isForeign(symbol, program) || reached.has(symbol)) return;
    reached.set(symbol, via);
    if (symbol.name in INTERNAL) return;
    const at = via === symbol.name ? via : `${via} > ${symbol.name}`;
    const declared = checker.getDeclaredTypeOfSymbol(symbol);
    if (symbol.flags & ts.SymbolFlags.TypeAlias) visitType(declared, at, true);
    if (symbol.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.Class)) {
      visitMembers(declared, at, symbol.name);
      for (const base of checker.getBaseTypes(declared as ts.InterfaceType)) visitType(base, `${at} extends`);
    }
    if (symbol.flags & ts.SymbolFlags.Class) visitMembers(checker.getTypeOfSymbolAtLocation(symbol, symbol.valueDeclaration!), at);
  }

  function visitType(type: ts.Type, via: string, expandingAlias = false): void {
    // An alias is recorded by its name (its arguments walked); its definition is walked once, by visitNamed.
    if (type.aliasSymbol && !expandingAlias) {
      visitNamed(type.aliasSymbol, via);
      for (const a of type.aliasTypeArguments ?? []) visitType(a, via);
      return;
    }
    if (seen.has(type)) return;
    seen.add(type);
    if (type.flags & (ts.TypeFlags.Union | ts.TypeFlags.Intersection)) return (type as ts.UnionOrIntersectionType).types.forEach((t) => visitType(t, via));
    if (type.flags & ts.TypeFlags.EnumLiteral && type.symbol) {
      const member = type.symbol.flags & ts.SymbolFlags.EnumMember;
      return visitNamed(member ? checker.getSymbolAtLocation((type.symbol.valueDeclaration as ts.EnumMember).parent.name)! : type.symbol, via);
    }
    if (type.flags & ts.TypeFlags.TypeParameter) {
      const constraint = checker.getBaseConstraintOfType(type);
      if (constraint && constraint !== type) visitType(constraint, via);
      return;
    }
    if (type.flags & ts.TypeFlags.Index) return visitType((type as ts.IndexType).type, via);
    if (type.flags & ts.TypeFlags.IndexedAccess) {
      visitType((type as ts.IndexedAccessType).objectType, via);
      return visitType((type as ts.IndexedAccessType).indexType, via);
    }
    if (!(type.flags & ts.TypeFlags.Object)) return;
    if ((type as ts.ObjectType).objectFlags & ts.ObjectFlags.Reference) {
      // Promise<RunResult>, RunRecord[], Map<string, Plan>: the arguments, then the generic type itself.
      const reference = type as ts.TypeReference;
      for (const a of checker.getTypeArguments(reference)) visitType(a, via);
      if (reference.target !== type) return visitType(reference.target, via);
    }
    if (type.symbol && type.symbol.flags & NAMED) return visitNamed(type.symbol, via);
    visitMembers(type, via); // an anonymous type: a type literal, a function type, a mapped type (Omit<…>)
  }

  for (const symbol of exported) {
    if (symbol.flags & NAMED) visitNamed(symbol, symbol.name);
    else visitValue(symbol, symbol.name); // functions and constants
  }
  return { reached, exported, members };
}

describe('the public API (src/index.ts)', () => {
  let surface: PublicSurface;
  beforeAll(() => {
    surface = publicSurface();
  }, 60_000);

  it('exports every named type its exports reach, so a user can name each one', () => {
    const { reached, exported } = surface;
    const missing = [...reached]
      .filter(([symbol]) => !exported.has(symbol) && !(symbol.name in INTERNAL))
      .map(([symbol, via]) => `${nameOf(symbol)}  (${via})`)
      .sort();
    expect(missing).toEqual([]);
    // The internal list stays true: each type on it is still reached, from where it says, and still not exported.
    const internal = [...reached.keys()].filter((s) => s.name in INTERNAL && !exported.has(s)).map((s) => `${s.name}: ${nameOf(s).split('#')[0]}`);
    expect(internal.sort()).toEqual(Object.entries(INTERNAL).map(([name, file]) => `${name}: ${file}`).sort());
  });

  it('has no test hook in its types', () => {
    const { members } = surface;
    expect(TEST_HOOKS.filter((hook) => members.has(hook))).toEqual([]);
    // Nor any other field documented as being for tests.
    expect([...members].filter(([, doc]) => /\btests?\b/i.test(doc)).map(([member, doc]) => `${member}: ${doc}`)).toEqual([]);
    // The walk saw the option types: a hook that moved out is not merely unseen.
    expect(['RunOptions.reason', 'GcOptions.dryRun', 'DispatchOptions.budgetMs'].filter((m) => !members.has(m))).toEqual([]);
  });

  it('has no option that only the command line reads', () => {
    // `--yes` answers the CLI's confirmation prompt; the library has none (calling backfill is the
    // confirmation), so a `yes` field did nothing, while reading as if `yes: false` would ask or refuse.
    expect(CLI_ONLY.filter((option) => surface.members.has(option))).toEqual([]);
    expect(surface.members.has('RunOptions.dryRun')).toBe(true);
  });
});
