import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/audit/canonical.js';

const canonicalize = createRequire(import.meta.url)('canonicalize') as (v: unknown) => string;

/** Deterministic pseudo-random values covering nesting, key order, unicode and number forms. */
function* values(seed: number, count: number): Generator<unknown> {
  let s = seed;
  const rand = () => ((s = (s * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const keys = ['a', 'b', 'é', 'Z', '10', '1', '\u20ac', 'aa', '', 'key with space', '\ud83d\ude00'];
  const numbers = [0, -0, 1, -1, 0.1, 1e21, 1e-7, 123456789.123, 2 ** 53, -(2 ** 31), 5e-324, 1.7976931348623157e308];
  const gen = (depth: number): unknown => {
    const r = rand();
    if (depth > 3 || r < 0.3) {
      const p = rand();
      if (p < 0.3) return numbers[Math.floor(rand() * numbers.length)];
      if (p < 0.6) return `s${Math.floor(rand() * 1000)}\n"\\\u0001\u2028`;
      if (p < 0.8) return rand() < 0.5;
      return null;
    }
    if (r < 0.6) return Array.from({ length: Math.floor(rand() * 4) }, () => gen(depth + 1));
    const obj: Record<string, unknown> = {};
    for (let i = 0; i < Math.floor(rand() * 5); i++) obj[keys[Math.floor(rand() * keys.length)]] = gen(depth + 1);
    return obj;
  };
  for (let i = 0; i < count; i++) yield gen(0);
}

describe('canonicalJson', () => {
  it('agrees with the canonicalize package (the RFC 8785 reference) on 5,000 generated values', () => {
    let n = 0;
    for (const v of values(42, 5000)) {
      expect(canonicalJson(v)).toBe(canonicalize(v));
      n++;
    }
    expect(n).toBe(5000);
  });

  it('is independent of key insertion order and drops undefined members like JSON', () => {
    expect(canonicalJson({ b: 1, a: [1, undefined], c: undefined })).toBe('{"a":[1,null],"b":1}');
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }));
  });
});
