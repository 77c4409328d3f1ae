/**
 * Canonical JSON (RFC 8785, "JCS") for hashing audit records.
 *
 * The serialisation itself is done by the `canonicalize` package (keys sorted by UTF-16 code
 * units, numbers in ECMAScript shortest round-trip form, minimal string escaping). Before handing
 * a value over we walk it once (no copy), refusing with a clear Error naming the path anything the
 * package would get wrong or silently lose:
 *
 *  - `undefined` (or a function / symbol) at the top level: there is no JSON text for it;
 *  - bigint, NaN, ±Infinity: not representable as an I-JSON number;
 *  - functions and symbols anywhere, and toJSON() results that are undefined (JSON.stringify would
 *    drop them; the package writes the invalid token `undefined`);
 *  - Map / Set / typed arrays (they would silently serialise as `{}` or as index-keyed objects);
 *  - circular references (the package would overflow the stack);
 *  - strings or keys holding lone UTF-16 surrogates (RFC 8785 requires I-JSON input, and such a
 *    string would not survive a round trip through a UTF-8 database column unchanged).
 *
 * Everything else follows JSON.stringify semantics, so that a value and its JSON round trip (what
 * the database hands back) canonicalise to the same text: `toJSON()` is honoured (Dates become ISO
 * strings), object properties whose value is `undefined` are omitted, `undefined` array elements
 * become `null`, -0 becomes 0, and only own enumerable string keys are serialised.
 */
import { createRequire } from 'node:module';

// `canonicalize` is a CommonJS module (`module.exports = serialize`) whose typings declare an ES
// default export; under "module": "NodeNext" a default import would be typed as the namespace, so
// load it through require, which is exact at runtime and in the type checker.
const require = createRequire(import.meta.url);
const canonicalize = require('canonicalize') as (input: unknown) => string | undefined;

const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Keys / indexes from the root to the value being checked; formatted only when something fails. */
type Trail = Array<string | number>;

function formatPath(trail: Trail): string {
  let out = '$';
  for (const k of trail) {
    if (typeof k === 'number') out += `[${k}]`;
    else out += /^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `[${JSON.stringify(k)}]`;
  }
  return out;
}

function fail(trail: Trail, what: string): never {
  throw new Error(`canonicalJson: cannot serialise ${what} at ${formatPath(trail)}`);
}

function describe(value: unknown): string {
  if (typeof value === 'number') return `the number ${String(value)}`; // NaN, Infinity, -Infinity
  if (typeof value === 'bigint') return `a bigint (${value}n)`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return 'a symbol';
  if (value === undefined) return 'undefined';
  return typeof value;
}

function checkString(s: string, trail: Trail, what: string): void {
  if (ANY_SURROGATE.test(s) && LONE_SURROGATE.test(s)) fail(trail, `${what} containing a lone UTF-16 surrogate`);
}

/**
 * Walks `value` exactly as the serialiser will (toJSON applied, undefined members skipped) and
 * throws on anything it would get wrong. Returns false for `undefined`, which is only allowed as an
 * object member (omitted) or an array element (written as null).
 */
function check(value: unknown, trail: Trail, ancestors: object[]): boolean {
  if (value !== null && typeof value === 'object') {
    const toJSON = (value as { toJSON?: unknown }).toJSON;
    if (typeof toJSON === 'function') {
      // The package calls toJSON() itself (without the key argument); check what it will get.
      const json = (toJSON as () => unknown).call(value);
      if (json === undefined) fail(trail, 'a value whose toJSON() returns undefined');
      return check(json, trail, ancestors);
    }
  }
  switch (typeof value) {
    case 'string':
      checkString(value, trail, 'a string');
      return true;
    case 'number':
      if (!Number.isFinite(value)) fail(trail, describe(value));
      return true;
    case 'boolean':
      return true;
    case 'undefined':
      return false;
    case 'bigint':
    case 'function':
    case 'symbol':
      return fail(trail, describe(value));
    default:
      break;
  }
  if (value === null) return true;
  const obj = value as object;
  const isArray = Array.isArray(obj);
  const proto: unknown = isArray ? Array.prototype : Object.getPrototypeOf(obj);
  if (proto !== Object.prototype && proto !== null && proto !== Array.prototype) {
    // Not plain data (checked only off the fast path).
    if (obj instanceof Map || obj instanceof Set || obj instanceof WeakMap || obj instanceof WeakSet) {
      fail(trail, `a ${obj.constructor.name} (convert it to an object or array first)`);
    }
    if (ArrayBuffer.isView(obj) || obj instanceof ArrayBuffer) {
      fail(trail, `a ${obj.constructor?.name ?? 'binary buffer'} (convert it to an array or string first)`);
    }
  }
  // The objects currently open above this one (a stack: JSON is shallow, so includes() is cheap).
  if (ancestors.includes(obj)) fail(trail, 'a circular reference');
  ancestors.push(obj);
  if (isArray) {
    const arr = obj as unknown[];
    for (let i = 0; i < arr.length; i++) {
      trail.push(i);
      check(arr[i], trail, ancestors);
      trail.pop();
    }
  } else {
    const rec = obj as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      trail.push(k);
      checkString(k, trail, 'a key');
      check(rec[k], trail, ancestors);
      trail.pop();
    }
  }
  ancestors.pop();
  return true;
}

/** RFC 8785 canonical JSON text of `value`; throws an Error naming the path of anything unserialisable. */
export function canonicalJson(value: unknown): string {
  if (!check(value, [], [])) fail([], `${describe(value)} (there is no JSON text for it)`);
  const text = canonicalize(value);
  if (typeof text !== 'string') fail([], describe(value)); // unreachable after check(); kept as a guard
  return text;
}
