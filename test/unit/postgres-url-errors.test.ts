/**
 * A PostgreSQL URL whose password holds `/` or `#` unencoded does not parse as the user meant: the URL
 * ends early and the rest of the password is read as the host or port. The connection error must say
 * so, as a config error (exit 2), and print no part of the password: neither the address the driver
 * thought it was given nor its own message (it used to be "Invalid URL" with a hint to check that the
 * server is running, or "getaddrinfo ENOTFOUND <part of the password>"). Nothing here reaches a server:
 * these URLs fail while being parsed.
 */
import { describe, expect, it } from 'vitest';
import { PostgresEngine } from '../../src/engines/postgres/engine.js';
import type { TidemarkError } from '../../src/errors.js';

const cases = [
  { char: '/', url: 'postgres://tidemark:pa/ss-Secret-Tail@127.0.0.1:1/shop', secret: ['pa/ss', 'ss-Secret-Tail'] },
  { char: '#', url: 'postgres://tidemark:pa#ss-Secret-Tail@127.0.0.1:1/shop', secret: ['pa#ss', 'ss-Secret-Tail'] },
];

describe('PostgreSQL URL with an unencoded character in the password', () => {
  for (const { char, url, secret } of cases) {
    it(`'${char}': a config error that says to percent-encode it and shows none of the password`, async () => {
      const error = (await PostgresEngine.open(url).then(
        () => null,
        (e: TidemarkError) => e,
      )) as TidemarkError;
      expect(error).toMatchObject({ code: 'CONFIG', exitCode: 2 });
      expect(error.message).toMatch(/percent-encoded/);
      expect(error.hint).toContain(`${char} → %${char.charCodeAt(0).toString(16).toUpperCase()}`);
      const shown = JSON.stringify({ message: error.message, hint: error.hint, details: error.details, cause: String(error.cause ?? '') });
      for (const part of secret) expect(shown).not.toContain(part);
    });
  }
});
