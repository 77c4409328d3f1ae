/**
 * Values both engines hand to JavaScript (engines/plain-numbers.ts): exact numbers stay exact on
 * their way to `query --json` and the library, and the two engines give the same shape for the same
 * value. A DECIMAL(38,2) amount past a double's 15–17 digits used to come back rounded from DuckDB.
 */
import { afterEach, describe, expect, inject, it } from 'vitest';
import { decimalFromText, integerFromText } from '../../src/engines/plain-numbers.js';
import { closeTestEngines, openTestEngine } from '../helpers/engines.js';
import { testEngines } from '../helpers/project.js';

afterEach(closeTestEngines);

describe('decimalFromText and integerFromText', () => {
  it('give a number only when a double holds the value exactly', () => {
    expect(decimalFromText('1.50')).toBe(1.5);
    expect(decimalFromText('-0.001')).toBe(-0.001);
    expect(decimalFromText('123')).toBe(123);
    expect(decimalFromText('999999999999999.9')).toBe('999999999999999.9'); // 16 significant digits
    expect(decimalFromText('12345678901234567.89')).toBe('12345678901234567.89');
    expect(decimalFromText('NaN')).toBe('NaN');
    expect(integerFromText('9007199254740991')).toBe(9007199254740991);
    expect(integerFromText('-9007199254740993')).toBe('-9007199254740993');
  });
});

describe.each(testEngines(inject('pgUrl')))('plain values ($kind)', (target) => {
  it('decimals and big integers come back exact, in the same shape on both engines', async () => {
    const engine = await openTestEngine(target, 'plain');
    const rows = await engine.query(
      `SELECT CAST('12345678901234567.89' AS DECIMAL(38,2)) AS amount, CAST('-99999999999999999999999999999999.999999' AS DECIMAL(38,6)) AS huge,
              CAST(1.5 AS DECIMAL(10,2)) AS rate, CAST(-0.001 AS DECIMAL(18,3)) AS tiny, CAST(123 AS DECIMAL(5,0)) AS whole,
              CAST(9007199254740993 AS BIGINT) AS big, CAST(NULL AS DECIMAL(10,2)) AS none`,
    );
    expect(rows).toEqual([
      { amount: '12345678901234567.89', huge: '-99999999999999999999999999999999.999999', rate: 1.5, tiny: -0.001, whole: 123, big: '9007199254740993', none: null },
    ]);
  });
});
