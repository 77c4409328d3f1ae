// Pure schema matching: which declared version a file's shape belongs to, the difference against the
// closest version when none fits, the suggested history entry, and the static adapter checks.
import { describe, expect, it } from 'vitest';
import { checkSchemaHistory, referencedColumns } from '../../src/config/adapters.js';
import type { SourceSpec } from '../../src/config/project.js';
import { canCast, currentVersionNumber, diffShape, forceVersion, matchShape, schemaVersions, similarity, typeFit, type FileShape } from '../../src/execute/schema-match.js';

const cols = (o: Record<string, string>) => Object.entries(o).map(([name, type]) => ({ name, type }));

const orders: SourceSpec = {
  kind: 'source',
  name: 'orders',
  partitionColumn: 'order_date',
  grain: 'day',
  key: ['order_id'],
  checks: [],
  protect: { frozen: [] },
  consumers: [],
  columns: cols({ order_id: 'BIGINT', customer_id: 'BIGINT', amount_cents: 'BIGINT', currency: 'VARCHAR', order_date: 'DATE' }),
  history: [
    { version: 2, columns: cols({ order_id: 'BIGINT', customer_id: 'BIGINT', amount: 'DOUBLE', currency: 'VARCHAR', order_date: 'DATE' }), adapt: { amount_cents: 'CAST(round(amount * 100) AS BIGINT)' } },
    {
      version: 1,
      columns: cols({ order_id: 'BIGINT', customer: 'BIGINT', amount: 'DOUBLE', legacy_flag: 'VARCHAR', order_date: 'DATE' }),
      adapt: { customer_id: 'customer', amount_cents: 'CAST(round(amount * 100) AS BIGINT)', currency: "'USD'" },
    },
  ],
};
const versions = schemaVersions(orders);
const typed = (o: Record<string, string>): FileShape => ({ typed: true, columns: cols(o) });
const csv = (...names: string[]): FileShape => ({ typed: false, columns: names.map((name) => ({ name, type: 'VARCHAR' })) });

describe('versions', () => {
  it('numbers the current schema after the newest history entry and lists newest first', () => {
    expect(currentVersionNumber(orders)).toBe(3);
    expect(versions.map((v) => [v.version, v.current])).toEqual([
      [3, true],
      [2, false],
      [1, false],
    ]);
  });
});

describe('typeFit and canCast', () => {
  it('tells exact, lossless and wrong types apart', () => {
    expect(typeFit('BIGINT', 'BIGINT', true)).toBe('exact');
    expect(typeFit('INTEGER', 'BIGINT', true)).toBe('castable');
    expect(typeFit('INTEGER', 'DOUBLE', true)).toBe('castable');
    expect(typeFit('DOUBLE', 'BIGINT', true)).toBe('mistyped');
    expect(typeFit('VARCHAR', 'BIGINT', true)).toBe('mistyped');
    expect(typeFit('VARCHAR', 'BIGINT', false)).toBe('castable');
  });
  it('knows which results an adapter may cast to the current type', () => {
    expect(canCast('DOUBLE', 'BIGINT')).toBe(true);
    expect(canCast('VARCHAR', 'DATE')).toBe(true);
    expect(canCast('BIGINT', 'DATE')).toBe(false);
    expect(canCast('DATE', 'BIGINT')).toBe(false);
    expect(canCast('TIMESTAMP', 'DATE')).toBe(true);
  });
});

describe('matchShape', () => {
  it('matches typed files by names and types, newest first, in any column order', () => {
    const v1 = matchShape(typed({ order_date: 'DATE', order_id: 'BIGINT', customer: 'BIGINT', amount: 'DOUBLE', legacy_flag: 'VARCHAR' }), versions);
    expect(v1).toMatchObject({ kind: 'match', version: { version: 1 } });
    const v3 = matchShape(typed({ order_id: 'INTEGER', customer_id: 'BIGINT', amount_cents: 'BIGINT', currency: 'VARCHAR', order_date: 'DATE' }), versions);
    expect(v3).toMatchObject({ kind: 'match', version: { version: 3 } });
  });

  it('matches CSV files by names only', () => {
    expect(matchShape(csv('order_id', 'customer_id', 'amount', 'currency', 'order_date'), versions)).toMatchObject({ kind: 'match', version: { version: 2 } });
  });

  it('prefers the version whose types match exactly when several fit', () => {
    const ds: SourceSpec = { ...orders, columns: cols({ id: 'DOUBLE', d: 'DATE' }), history: [{ version: 1, columns: cols({ id: 'BIGINT', d: 'DATE' }), adapt: {} }] };
    expect(matchShape(typed({ id: 'BIGINT', d: 'DATE' }), schemaVersions(ds))).toMatchObject({ kind: 'match', version: { version: 1 } });
    expect(matchShape(typed({ id: 'INTEGER', d: 'DATE' }), schemaVersions(ds))).toMatchObject({ kind: 'match', version: { version: 2 } });
    expect(matchShape(csv('id', 'd'), schemaVersions(ds))).toMatchObject({ kind: 'ambiguous', candidates: [{ version: 2 }, { version: 1 }] });
  });

  it('lists missing, extra and mistyped columns against the closest version, and suggests an entry', () => {
    const m = matchShape(typed({ order_id: 'BIGINT', cust: 'BIGINT', amount_cents: 'VARCHAR', currency: 'VARCHAR', order_date: 'DATE' }), versions);
    expect(m.kind).toBe('none');
    if (m.kind !== 'none') return;
    expect(m.closest).toEqual({
      version: 3,
      missing: [{ name: 'customer_id', type: 'BIGINT' }],
      extra: [{ name: 'cust', type: 'BIGINT' }],
      mistyped: [{ name: 'amount_cents', expected: 'BIGINT', found: 'VARCHAR' }],
    });
    expect(m.suggestion.split('\n')).toEqual([
      '- version: 4  # any unused number; files are matched by shape, newest version first',
      '  columns: { order_id: BIGINT, cust: BIGINT, amount_cents: VARCHAR, currency: VARCHAR, order_date: DATE }',
      '  adapt:',
      '    customer_id: "cust"',
      // By name, not CAST(amount_cents AS BIGINT): ingest casts an adapter's result and refuses '12.5',
      // where an explicit CAST means "round" (13 on DuckDB).
      '    amount_cents: "amount_cents"',
    ]);
    expect(m.suggestionInline).toBe(
      '- { version: 4, columns: { order_id: BIGINT, cust: BIGINT, amount_cents: VARCHAR, currency: VARCHAR, order_date: DATE }, adapt: { customer_id: "cust", amount_cents: "amount_cents" } }',
    );
    // A type the engine cannot cast at all is spelt out as a CAST, for the user to replace with an expression.
    const dated = matchShape(typed({ order_id: 'BIGINT', customer_id: 'BIGINT', amount_cents: 'DATE', currency: 'VARCHAR', order_date: 'DATE' }), versions);
    expect(dated.kind === 'none' && dated.suggestionInline).toContain('adapt: { amount_cents: "CAST(amount_cents AS BIGINT)" }');
  });

  it('for a CSV, declares a renamed column as the column it becomes instead of casting its text in adapt', () => {
    // CAST('12.34' AS BIGINT) is 12 on DuckDB: an adapter's cast would load dollars into cents without a
    // word, where a declared BIGINT column goes through ingest's checked cast and refuses the fraction.
    const m = matchShape(csv('order_id', 'cust', 'amount', 'currency', 'order_date'), versions);
    if (m.kind !== 'none') throw new Error('expected no match');
    expect(m.suggestionInline).toBe(
      '- { version: 4, columns: { order_id: BIGINT, cust: BIGINT, amount: BIGINT, currency: VARCHAR, order_date: DATE }, adapt: { customer_id: "cust", amount_cents: "amount" } }',
    );
    expect(m.suggestion).not.toContain('CAST(');
  });

  it('suggests a typed NULL with a TODO when nothing in the file gives a column', () => {
    const m = matchShape(typed({ order_id: 'BIGINT', order_date: 'DATE' }), versions);
    if (m.kind !== 'none') throw new Error('expected no match');
    expect(m.suggestion).toContain('currency: "CAST(NULL AS VARCHAR)"  # TODO');
  });

  it('forces a version and reports its difference', () => {
    const shape = csv('order_id', 'customer_id', 'amount_cents', 'currency', 'order_date');
    expect(forceVersion(shape, versions, 3)).toMatchObject({ version: { version: 3 }, diff: null });
    expect(forceVersion(shape, versions, 2)?.diff).toMatchObject({ missing: [{ name: 'amount' }], extra: [{ name: 'amount_cents' }] });
    expect(forceVersion(shape, versions, 9)).toBeNull();
    expect(diffShape(shape, versions[0]).missing).toEqual([]);
  });

  it('scores similar names', () => {
    expect(similarity('customer', 'customer_id')).toBeGreaterThan(0.5);
    expect(similarity('x', 'customer_id')).toBe(0);
  });
});

describe('static adapter checks (config load)', () => {
  it('finds the columns an expression reads, not keywords, types, functions or strings', () => {
    expect(referencedColumns('CAST(round(amount * 100) AS BIGINT)')).toEqual(['amount']);
    expect(referencedColumns("'USD'")).toEqual([]);
    expect(referencedColumns(`coalesce("Customer", 0)::BIGINT + 1e3`)).toEqual(['Customer']);
    expect(referencedColumns("CASE WHEN flag = 'y' THEN amount ELSE NULL END")).toEqual(['flag', 'amount']);
    expect(referencedColumns('EXTRACT(year FROM order_date)')).toEqual(['order_date']);
  });

  const history = () => orders.history.map((h) => ({ ...h, adapt: { ...h.adapt } }));
  it('accepts a consistent history', () => {
    expect(() => checkSchemaHistory((at) => `tidemark.yaml: ${at}`, 'orders', orders.columns, history())).not.toThrow();
  });
  it('names the adapter that reads an unknown column', () => {
    const h = history();
    h[1].adapt.amount_cents = 'CAST(round(amt * 100) AS BIGINT)';
    expect(() => checkSchemaHistory((at) => `tidemark.yaml: ${at}`, 'orders', orders.columns, h)).toThrow(/datasets\.orders\.schema\.history\[1\]\.adapt\.amount_cents: .* reads 'amt'/);
  });
  it('names an adapter for a column that is not current', () => {
    const h = history();
    h[0].adapt.total = 'amount';
    expect(() => checkSchemaHistory((at) => `tidemark.yaml: ${at}`, 'orders', orders.columns, h)).toThrow(/history\[0\]\.adapt\.total: 'total' is not a column of schema.current/);
  });
  it('names a current column a version does not cover', () => {
    const h = history();
    delete h[1].adapt.currency;
    expect(() => checkSchemaHistory((at) => `tidemark.yaml: ${at}`, 'orders', orders.columns, h)).toThrow(/history\[1\]\.adapt: current column 'currency' is neither a column of version 1 nor adapted/);
  });
  it('refuses a version number declared twice', () => {
    const h = history();
    h[1].version = 2;
    expect(() => checkSchemaHistory((at) => `tidemark.yaml: ${at}`, 'orders', orders.columns, h)).toThrow(/history\[1\]\.version: version 2 is declared twice/);
  });
});
