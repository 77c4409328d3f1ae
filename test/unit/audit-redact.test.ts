import { describe, expect, it } from 'vitest';
import { parseSince } from '../../src/api/audit.js';
import { redactSecrets } from '../../src/audit/redact.js';

describe('redactSecrets', () => {
  it('removes every occurrence of configured secret values, longest first', () => {
    expect(redactSecrets('a hunter2x b hunter2 c', ['hunter2', 'hunter2x'])).toBe('a *** b *** c');
  });

  it('removes the value after --token-like flags, keeping the flag', () => {
    expect(redactSecrets('tidemark serve --token abc123 --port 8080')).toBe('tidemark serve --token *** --port 8080');
    expect(redactSecrets('tidemark serve --token=abc123')).toBe('tidemark serve --token=***');
    expect(redactSecrets('x --db-password "two words" --api-key k1 --secret-file f')).toBe('x --db-password *** --api-key *** --secret-file ***');
  });

  it('removes password=-like assignments, URL passwords and bearer tokens', () => {
    expect(redactSecrets('db password=hunter2; next')).toBe('db password=***; next');
    expect(redactSecrets('https://h/x?token=abc&y=1')).toBe('https://h/x?token=***&y=1');
    expect(redactSecrets('{"api_key":"k-123","n":1}')).toBe('{"api_key":***,"n":1}');
    expect(redactSecrets('postgres://tm:pa55@db:5432/x')).toBe('postgres://tm:***@db:5432/x');
    expect(redactSecrets('Authorization: Bearer eyJhbGciOi.x-y')).toBe('Authorization: Bearer ***');
  });

  it('leaves ordinary command lines alone', () => {
    const line = 'tidemark backfill daily_revenue --from 2026-03-01 --to 2026-03-07 --reason "EUR fix, author: ana" --yes --actor alice';
    expect(redactSecrets(line)).toBe(line);
  });
});

describe('parseSince', () => {
  const now = new Date('2026-05-01T12:00:00.000Z');

  it('reads ISO dates and times as UTC unless they carry an offset', () => {
    expect(parseSince('2026-03-07', now)).toBe('2026-03-07T00:00:00.000Z');
    expect(parseSince('2026-03-07T13', now)).toBe('2026-03-07T13:00:00.000Z');
    expect(parseSince('2026-03-07 13:05', now)).toBe('2026-03-07T13:05:00.000Z');
    expect(parseSince('2026-03-07T13:05:00+02:00', now)).toBe('2026-03-07T11:05:00.000Z');
  });

  it('reads spans back from now', () => {
    expect(parseSince('24h', now)).toBe('2026-04-30T12:00:00.000Z');
    expect(parseSince('7d', now)).toBe('2026-04-24T12:00:00.000Z');
    expect(parseSince('30m', now)).toBe('2026-05-01T11:30:00.000Z');
  });

  it('refuses anything else with a usage-class error', () => {
    expect(() => parseSince('yesterday', now)).toThrow(/--since: cannot read 'yesterday'/);
    expect(() => parseSince('2026-02-30', now)).toThrow(/cannot read/);
  });
});
