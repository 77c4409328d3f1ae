/**
 * Config errors name the line of the YAML path they are about. For a path that ends at a map or a
 * list written as a block (its entries on the lines below), that is the line of its key, not of its
 * first entry.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadProject } from '../../src/config/load.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The message of the config error `yaml` gives. */
function configError(yaml: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tidemark-config-lines-'));
  dirs.push(dir);
  writeFileSync(path.join(dir, 'tidemark.yaml'), yaml);
  try {
    loadProject(dir);
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('the config loaded');
}

const lineOf = (yaml: string, text: string) => yaml.split('\n').findIndex((l) => l.includes(text)) + 1;

describe('config error lines', () => {
  it('a block map missing a field: the line of its key', () => {
    const yaml = ['name: t', 'datasets:', '  orders:', '    kind: source', '    partition:', '      column: order_date', '    key: [order_id]', '    schema:', '      current: { order_id: BIGINT, order_date: DATE }', ''].join('\n');
    expect(configError(yaml)).toMatch(new RegExp(`^tidemark\\.yaml:${lineOf(yaml, 'partition:')}: datasets\\.orders\\.partition`));
  });

  it('an adapt block that leaves a current column out: the line of `adapt:`', () => {
    const yaml = [
      'name: t',
      'datasets:',
      '  orders:',
      '    kind: source',
      '    partition: { column: order_date, grain: day }',
      '    key: [order_id]',
      '    schema:',
      '      current: { order_id: BIGINT, currency: VARCHAR, order_date: DATE }',
      '      history:',
      '        - version: 1',
      '          columns: { order_id: BIGINT, order_date: DATE }',
      '          adapt:',
      '            order_id: order_id',
      '',
    ].join('\n');
    expect(configError(yaml)).toBe(
      `tidemark.yaml:${lineOf(yaml, 'adapt:')}: datasets.orders.schema.history[0].adapt: current column 'currency' is neither a column of version 1 nor adapted`,
    );
  });

  it('a scalar: its own line', () => {
    const yaml = ['name: t', 'datasets:', '  orders:', '    kind: source', '    partition: { column: order_date, grain: week }', '    key: [order_id]', '    schema:', '      current: { order_id: BIGINT, order_date: DATE }', ''].join('\n');
    expect(configError(yaml)).toMatch(new RegExp(`^tidemark\\.yaml:${lineOf(yaml, 'grain: week')}: datasets\\.orders\\.partition\\.grain: expected one of`));
  });
});
