/**
 * Canonical JSON (RFC 8785, "JCS") for hashing audit records.
 *
 * RFC 8785 is JSON.stringify with object keys sorted by UTF-16 code units: numbers in ECMAScript
 * shortest round-trip form and minimal string escaping are exactly what JSON.stringify produces for
 * primitives. So the serialiser below is a small sorted-key walk over JSON.stringify; it replaced
 * the `canonicalize` package on the hot path (audit verification hashes every record, and the
 * package's generic walk was ~60% of verifying 100k records). The package stays as the oracle the
 * unit tests compare against. Before serialising we walk the value once, refusing with a clear
 * Error naming the path anything that has no faithful canonical form:
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
  return serialize(value);
}

/**
 * Canonical JSON of a value that came out of JSON.parse (a stored audit record): it is JSON-safe by
 * construction, so the validating walk is skipped. Verification of a long chain is dominated by this.
 */
export function canonicalJsonOfParsed(value: unknown): string {
  return serialize(value);
}

/** Printable ASCII without `"` and `\\`: JSON writes such a string as it is, between quotes. */
const PLAIN_STRING = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** Sorted-key JSON; `check` has already refused everything without a JSON form. */
function serialize(value: unknown): string {
  // Fast paths for the primitives that make up most of a record; JSON.stringify handles the rest.
  if (typeof value === 'string') return PLAIN_STRING.test(value) ? `"${value}"` : JSON.stringify(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : JSON.stringify(value);
  if (typeof value === 'bigint') throw new Error(`canonicalJson: cannot serialise a bigint (${value}n)`);
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const withJson = value as { toJSON?: () => unknown };
  if (typeof withJson.toJSON === 'function') return serialize(withJson.toJSON());
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      out += (i ? ',' : '') + (item === undefined || typeof item === 'function' || typeof item === 'symbol' ? 'null' : serialize(item));
    }
    return `${out}]`;
  }
  const rec = value as Record<string, unknown>;
  let out = '{';
  let first = true;
  for (const key of Object.keys(rec).sort()) {
    const item = rec[key];
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    out += `${first ? '' : ','}${serialize(key)}:${serialize(item)}`;
    first = false;
  }
  return `${out}}`;
}
