/**
 * How both engines hand exact numbers to JavaScript: as numbers when a double holds them exactly, as
 * their decimal text otherwise. A DECIMAL(38,2) amount or a BIGINT id past 2^53 must not be rounded on
 * its way to `query --json`, and the two engines must give the same shape for the same value.
 */

const MAX = BigInt(Number.MAX_SAFE_INTEGER);
const MIN = BigInt(Number.MIN_SAFE_INTEGER);

/** An integer's text → number when exact, else the text itself. */
export function integerFromText(text: string): number | string {
  const n = BigInt(text);
  return n >= MIN && n <= MAX ? Number(n) : text;
}

/** A decimal's text → number when a double represents it exactly enough (≤ 15 significant digits), else the text. */
export function decimalFromText(text: string): number | string {
  if (!/^-?\d+(\.\d+)?$/.test(text)) return text; // NaN, Infinity
  if (!text.includes('.')) return integerFromText(text);
  const digits = text.replace(/^-/, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return digits.length <= 15 ? Number(text) : text;
}
