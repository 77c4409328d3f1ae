// Audit chain (DESIGN.md failure mode 7): real hashing, no mocks, no database.
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { canonicalJson } from '../../src/audit/canonical.js';
import {
  GENESIS_HASH,
  hashAuditRecord,
  sealAuditRecord,
  verifyAuditChain,
  type AuditRecord,
  type AuditRecordBody,
  type ChainVerdict,
  type StoredAuditRecord,
} from '../../src/audit/chain.js';

// The reference implementation the module is built on (CommonJS, loaded as such).
const canonicalize = createRequire(import.meta.url)('canonicalize') as (v: unknown) => string | undefined;

type Fields = Omit<AuditRecordBody, 'seq' | 'prev_hash'>;

const CONFIG_HASH = createHash('sha256').update('tidemark.yaml').digest('hex');

function fieldsFor(k: number): Fields {
  const day = new Date(Date.UTC(2024, 0, 1) + (k % 28) * 86_400_000).toISOString().slice(0, 10);
  return {
    at: new Date(Date.UTC(2024, 5, 1) + k * 60_000).toISOString(),
    actor: k % 3 === 0 ? 'bob' : 'alice',
    action: k % 5 === 0 ? 'restore' : 'backfill',
    reason: `reprocess after upstream fix #${k}`,
    command: `tidemark backfill orders --from ${day} --to ${day} --reason "fix #${k}"`,
    run_id: k % 4 === 0 ? null : `run-${String(k).padStart(6, '0')}`,
    dataset: k % 7 === 0 ? null : 'orders',
    partitions: [day],
    details: {
      partitions: {
        [day]: {
          before: { version: k, rows: 1000 + k, checksum: `c${k}` },
          after: { version: k + 1, rows: 1001 + k, checksum: `d${k}` },
        },
      },
      note: 'ünïcödé € 😂',
      ratio: k / 3,
    },
    tidemark_version: '0.1.0',
    config_hash: CONFIG_HASH,
  };
}

function buildChain(n: number): AuditRecord[] {
  const out: AuditRecord[] = [];
  let prev: AuditRecord | null = null;
  for (let k = 1; k <= n; k++) {
    prev = sealAuditRecord(prev, fieldsFor(k));
    out.push(prev);
  }
  return out;
}

/** A fresh deep copy, as the database would hand the rows back. */
function copy(records: AuditRecord[]): AuditRecord[] {
  return JSON.parse(JSON.stringify(records)) as AuditRecord[];
}

/** ORDER BY seq. */
function bySeq(records: AuditRecord[]): AuditRecord[] {
  return [...records].sort((a, b) => a.seq - b.seq);
}

function expectProblem(v: ChainVerdict, problem: string, seq: number): Extract<ChainVerdict, { ok: false }> {
  expect(v.ok).toBe(false);
  if (v.ok) throw new Error('unreachable');
  expect({ problem: v.problem, seq: v.seq }).toEqual({ problem, seq });
  expect(v.message).not.toContain('\n');
  return v;
}

const N = 50;
const chain = buildChain(N);
const HEAD = chain[N - 1].hash;

describe('sealAuditRecord / hashAuditRecord', () => {
  it('numbers from 1, links to genesis then to the previous hash, and hashes prev_hash + \\n + canonical body', () => {
    expect(GENESIS_HASH).toBe('0'.repeat(64));
    expect(chain[0].seq).toBe(1);
    expect(chain[0].prev_hash).toBe(GENESIS_HASH);
    for (let i = 0; i < N; i++) {
      const r = chain[i];
      expect(r.seq).toBe(i + 1);
      if (i > 0) expect(r.prev_hash).toBe(chain[i - 1].hash);
      const { hash, ...body } = r;
      const independent = createHash('sha256')
        .update(`${body.prev_hash}\n${canonicalize(body)}`)
        .digest('hex');
      expect(hash).toMatch(/^[0-9a-f]{64}$/);
      expect(hash).toBe(independent);
      expect(hashAuditRecord(body)).toBe(hash);
    }
    expect(new Set(chain.map((r) => r.hash)).size).toBe(N);
  });

  it('hashes only the body: the stored hash and extra database columns do not change it', () => {
    const r = chain[9];
    const withExtras = { ...r, id: 12345, created_at: 'now' } as unknown as AuditRecordBody;
    expect(hashAuditRecord(r)).toBe(r.hash);
    expect(hashAuditRecord(withExtras)).toBe(r.hash);
  });

  it('every field is covered by the hash', () => {
    const r = copy(chain)[9];
    const tweaks: Array<(b: AuditRecord) => void> = [
      (b) => (b.seq = 11),
      (b) => (b.at = '2024-06-01T00:00:00.001Z'),
      (b) => (b.actor = 'mallory'),
      (b) => (b.action = b.action === 'restore' ? 'backfill' : 'restore'),
      (b) => (b.reason += '!'),
      (b) => (b.command += ' --yes'),
      (b) => (b.run_id = null),
      (b) => (b.dataset = 'customers'),
      (b) => b.partitions.push('2024-02-01'),
      (b) => ((b.details as { ratio: number }).ratio = 0),
      (b) => (b.tidemark_version = '0.1.1'),
      (b) => (b.config_hash = 'f'.repeat(64)),
      (b) => (b.prev_hash = GENESIS_HASH),
    ];
    for (const tweak of tweaks) {
      const b = copy([r])[0];
      tweak(b);
      expect(hashAuditRecord(b)).not.toBe(r.hash);
    }
  });

  it('survives a JSON round trip with keys reordered (what a database JSON column may do)', () => {
    const shuffled = copy(chain).map((r) => {
      const d = r.details as Record<string, unknown>;
      const reversed = Object.fromEntries(Object.entries(d).reverse());
      const rec = Object.fromEntries(Object.entries({ ...r, details: reversed }).reverse());
      return rec as unknown as AuditRecord;
    });
    expect(verifyAuditChain(shuffled)).toMatchObject({ ok: true, count: N, head: HEAD });
  });

  it('stores a detached copy of details (later mutation by the caller cannot break the record)', () => {
    const details = { rows: 1, nested: { when: new Date('2024-01-02T03:04:05Z'), gone: undefined } };
    const fields = { ...fieldsFor(1), details };
    const rec = sealAuditRecord(null, fields);
    details.rows = 999;
    details.nested.when = new Date(0);
    expect(rec.details).toEqual({ rows: 1, nested: { when: '2024-01-02T03:04:05.000Z' } });
    expect(verifyAuditChain([rec])).toMatchObject({ ok: true, count: 1 });
  });

  it('hashes undefined details / run_id / dataset as null (a database NULL reads back as null)', () => {
    const withUndefined = sealAuditRecord(null, { ...fieldsFor(1), details: undefined });
    expect(withUndefined.details).toBeNull();
    const withNull = sealAuditRecord(null, { ...fieldsFor(1), details: null });
    expect(withUndefined.hash).toBe(withNull.hash);
    expect(verifyAuditChain(copy([withUndefined])).ok).toBe(true);
  });

  it('refuses bad input with a clear error', () => {
    expect(() => sealAuditRecord({ seq: 0, hash: GENESIS_HASH }, fieldsFor(1))).toThrow(/previous seq/);
    expect(() => sealAuditRecord({ seq: 3, hash: 'nope' }, fieldsFor(1))).toThrow(/previous hash/);
    expect(() => sealAuditRecord(null, { ...fieldsFor(1), reason: 42 as unknown as string })).toThrow(
      /reason must be a string/,
    );
    expect(() => sealAuditRecord(null, { ...fieldsFor(1), details: { n: 10n } })).toThrow(
      /cannot serialise a bigint \(10n\) at \$\.n/,
    );
  });
});

describe('verifyAuditChain', () => {
  it('accepts an intact chain and reports its head', () => {
    expect(verifyAuditChain(chain)).toEqual({ ok: true, count: N, head: HEAD, first_seq: 1, last_seq: N });
    expect(verifyAuditChain(copy(chain), { head: HEAD })).toEqual({
      ok: true,
      count: N,
      head: HEAD,
      first_seq: 1,
      last_seq: N,
    });
  });

  it('altered: a field of record 20 changed (reason)', () => {
    const rs = copy(chain);
    rs[19].reason = 'nothing to see here';
    const v = expectProblem(verifyAuditChain(rs), 'altered', 20);
    expect(v.message).toBe('record 20 was altered: its content no longer matches its hash');
    expect(v.count).toBe(N);
  });

  it('altered: the seq field itself changed in place', () => {
    const rs = copy(chain);
    rs[19].seq = 20.5; // still sorts in the same place
    const v = expectProblem(verifyAuditChain(rs), 'altered', 20);
    expect(v.message).toBe('record 20 (now numbered 20.5) was altered: its content no longer matches its hash');
  });

  it('altered wins over a broken link when it is not a reorder (prev_hash rewritten)', () => {
    const rs = copy(chain);
    rs[19].prev_hash = 'a'.repeat(64); // link fails AND content fails (prev_hash is hashed)
    expectProblem(verifyAuditChain(rs), 'altered', 20);
  });

  it('broken_link: record 20 edited and re-hashed, so record 21 no longer links to it', () => {
    const rs = copy(chain);
    rs[19].reason = 'rewritten history';
    rs[19].hash = hashAuditRecord(rs[19]);
    const v = expectProblem(verifyAuditChain(rs), 'broken_link', 21);
    expect(v.message).toBe(
      `the chain is broken at record 21: its prev_hash ${chain[19].hash.slice(0, 12)}… is not ` +
        `the hash of record 20 (${rs[19].hash.slice(0, 12)}…)`,
    );
  });

  it('broken_link: a first record that does not start from genesis', () => {
    const body: AuditRecordBody = { ...fieldsFor(1), seq: 1, prev_hash: 'ab'.repeat(32) };
    const rec: AuditRecord = { ...body, hash: hashAuditRecord(body) };
    const v = expectProblem(verifyAuditChain([rec]), 'broken_link', 1);
    expect(v.message).toMatch(/^the chain is broken at record 1: its prev_hash abababababab… is not the genesis hash$/);
  });

  it('broken_link: a duplicated row', () => {
    const rs = copy(chain);
    rs.splice(5, 0, copy([chain[4]])[0]); // record 5 appears twice
    const v = expectProblem(verifyAuditChain(rs), 'broken_link', 6);
    expect(v.message).toBe('the chain is broken at record 6: the record found there is numbered 5');
  });

  it('missing: record 17 deleted', () => {
    const rs = copy(chain);
    rs.splice(16, 1);
    const v = expectProblem(verifyAuditChain(rs), 'missing', 17);
    expect(v.message).toBe('record 17 is missing: sequence jumps from 16 to 18');
    expect(v.count).toBe(N - 1);
  });

  it('missing: records 17 to 19 deleted names the first absent seq', () => {
    const rs = copy(chain);
    rs.splice(16, 3);
    const v = expectProblem(verifyAuditChain(rs), 'missing', 17);
    expect(v.message).toBe('records 17 to 19 are missing: sequence jumps from 16 to 20');
  });

  it('missing: the first record deleted', () => {
    const rs = copy(chain).slice(1);
    const v = expectProblem(verifyAuditChain(rs), 'missing', 1);
    expect(v.message).toBe('record 1 is missing: the chain starts at record 2');
  });

  it('reordered: two adjacent records swapped by exchanging their seq values (UPDATE … SET seq = …)', () => {
    const rs = copy(chain);
    rs[4].seq = 6; // originally record 5
    rs[5].seq = 5; // originally record 6
    const v = expectProblem(verifyAuditChain(bySeq(rs)), 'reordered', 5);
    // Position 5 now holds the old record 6 (relabelled 5): it links to the hash of the old record 5,
    // which now sits later, relabelled 6.
    expect(v.message).toBe('records 5 and 6 are out of order: record 5 links to the hash of record 6');
  });

  it('reordered: swapped at the very start (records 1 and 2)', () => {
    const rs = copy(chain);
    rs[0].seq = 2;
    rs[1].seq = 1;
    expectProblem(verifyAuditChain(bySeq(rs)), 'reordered', 1);
  });

  it('reordered: list positions swapped without touching seq', () => {
    const rs = copy(chain);
    [rs[4], rs[5]] = [rs[5], rs[4]];
    const v = expectProblem(verifyAuditChain(rs), 'reordered', 5);
    expect(v.message).toBe('records 5 and 6 are out of order: record 6 links to the hash of record 5');
  });

  it('reordered: whole rows (hash and prev_hash included) exchanged while each keeps its seq', () => {
    // Same end state as swapping seq values: the row at seq 5 carries record 6's content, links
    // and hash. Its prev_hash is the hash now stored at seq 6, i.e. it links FORWARD -> reordered
    // (checked before content, which would also fail because seq is hashed).
    const rs = copy(chain);
    const { seq: s5, ...r5 } = rs[4];
    const { seq: s6, ...r6 } = rs[5];
    rs[4] = { ...r6, seq: s5 };
    rs[5] = { ...r5, seq: s6 };
    const v = expectProblem(verifyAuditChain(rs), 'reordered', 5);
    expect(v.message).toBe('records 5 and 6 are out of order: record 5 links to the hash of record 6');
  });

  it('altered: only the payload exchanged (seq, prev_hash and hash stay put)', () => {
    // The links are intact (each row still holds its original prev_hash/hash), so nothing links
    // forward: it is not a reorder. The content at seq 5 no longer matches its stored hash -> altered.
    const rs = copy(chain);
    const payload = ['at', 'actor', 'action', 'reason', 'command', 'run_id', 'dataset', 'partitions', 'details'] as const;
    const a = rs[4] as unknown as Record<string, unknown>;
    const b = rs[5] as unknown as Record<string, unknown>;
    for (const k of payload) [a[k], b[k]] = [b[k], a[k]];
    const v = expectProblem(verifyAuditChain(rs), 'altered', 5);
    expect(v.message).toBe('record 5 was altered: its content no longer matches its hash');
  });

  it('truncated: the last 3 records dropped, verified against the anchored head', () => {
    const rs = copy(chain).slice(0, N - 3);
    expect(verifyAuditChain(rs)).toMatchObject({ ok: true, count: N - 3 }); // invisible without the head
    const v = expectProblem(verifyAuditChain(rs, { head: HEAD }), 'truncated', 48);
    expect(v.message).toBe(
      `the chain was truncated after record 47: the anchored head ${HEAD.slice(0, 12)}… is not in the chain`,
    );
  });

  it('ok when the anchored head is an earlier record (records appended since)', () => {
    expect(verifyAuditChain(copy(chain), { head: chain[29].hash })).toEqual({
      ok: true,
      count: N,
      head: HEAD,
      first_seq: 1,
      last_seq: N,
    });
    expect(verifyAuditChain(copy(chain), { head: HEAD.toUpperCase() }).ok).toBe(true);
  });

  it('reports damage inside the chain before truncation', () => {
    const rs = copy(chain).slice(0, N - 3);
    rs[9].actor = 'mallory';
    expectProblem(verifyAuditChain(rs, { head: HEAD }), 'altered', 10);
  });

  it('empty chain: ok with count 0; with a head it is truncated at 1; a genesis head is fine', () => {
    expect(verifyAuditChain([])).toEqual({ ok: true, count: 0, head: GENESIS_HASH, first_seq: null, last_seq: null });
    const v = expectProblem(verifyAuditChain([], { head: HEAD }), 'truncated', 1);
    expect(v.count).toBe(0);
    expect(v.message).toContain(HEAD.slice(0, 12));
    expect(verifyAuditChain([], { head: GENESIS_HASH }).ok).toBe(true);
  });

  it('throws (does not report tampering) for values no JSON column could hold', () => {
    const rs = copy(chain);
    (rs[2] as unknown as { seq: bigint }).seq = 3n;
    expect(() => verifyAuditChain(rs)).toThrow(/cannot hash the record at position 3 .*bigint/);
    expect(() => verifyAuditChain(rs)).toThrow(expect.objectContaining({ name: 'TidemarkError', code: 'BAD_INPUT' }));
  });

  it("refuses an export's trailer line given as the last record, rather than calling an intact export altered", () => {
    // What `audit export` writes (exportAudit's lines): the records, then {"count":N,"head":"<hash>"}.
    const lines = [...chain.map((r) => canonicalJson(r)), canonicalJson({ head: HEAD, count: N })];
    const parsed = lines.map((l) => JSON.parse(l) as AuditRecord);
    expect(() => verifyAuditChain(parsed)).toThrow(expect.objectContaining({ name: 'TidemarkError', code: 'BAD_INPUT', message: expect.stringMatching(/trailer/) }));
    // As the hint says: the lines before it, with its head.
    const trailer = JSON.parse(lines[lines.length - 1]) as { head: string };
    expect(verifyAuditChain(parsed.slice(0, -1), { head: trailer.head })).toMatchObject({ ok: true, count: N, head: HEAD });
  });
});

describe('canonicalJson (RFC 8785)', () => {
  it('is independent of key order, at every depth, and so is the record hash', () => {
    const a = { b: 1, a: { y: [1, { d: 2, c: 3 }], x: null }, '': 'empty' };
    const b = { '': 'empty', a: { x: null, y: [1, { c: 3, d: 2 }] }, b: 1 };
    expect(canonicalJson(a)).toBe('{"":"empty","a":{"x":null,"y":[1,{"c":3,"d":2}]},"b":1}');
    expect(canonicalJson(b)).toBe(canonicalJson(a));
    const base = { ...fieldsFor(1), seq: 1, prev_hash: GENESIS_HASH };
    expect(hashAuditRecord({ ...base, details: a })).toBe(hashAuditRecord({ ...base, details: b }));
  });

  it('serialises numbers as RFC 8785 / ECMAScript (1e21, 0.1, …), like the canonicalize package', () => {
    const cases: Array<[number, string]> = [
      [1e21, '1e+21'],
      [1e20, '100000000000000000000'],
      [0.1, '0.1'],
      [0.1 + 0.2, '0.30000000000000004'],
      [1e-7, '1e-7'],
      [0.000001, '0.000001'],
      [-0, '0'],
      [4.5, '4.5'],
      [2e-3, '0.002'],
      [1e30, '1e+30'],
      [333333333.33333329, '333333333.3333333'],
      [1e-27, '1e-27'],
      [9007199254740992, '9007199254740992'],
    ];
    for (const [n, text] of cases) {
      expect(canonicalJson(n)).toBe(text);
      expect(canonicalJson(n)).toBe(canonicalize(n));
    }
  });

  it('matches the IEEE 754 samples of RFC 8785 Appendix B', () => {
    const fromBits = (hex: string): number => {
      const view = new DataView(new ArrayBuffer(8));
      view.setBigUint64(0, BigInt(`0x${hex}`));
      return view.getFloat64(0);
    };
    const samples: Array<[string, string]> = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['44b52d02c7e14af7', '1.0000000000000001e+23'],
      ['444b1ae4d6e2ef4e', '999999999999999700000'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['41b3de4355555553', '333333333.3333332'],
      ['41b3de4355555554', '333333333.33333325'],
      ['41b3de4355555555', '333333333.3333333'],
      ['41b3de4355555556', '333333333.3333334'],
      ['41b3de4355555557', '333333333.33333343'],
      ['becbf647612f3696', '-0.0000033333333333333333'],
      ['43143ff3c1cb0959', '1424953923781206.2'],
    ];
    for (const [bits, text] of samples) {
      expect(canonicalJson(fromBits(bits)), bits).toBe(text);
    }
  });

  it('reproduces the RFC 8785 section 3.2.2 example and the package "weird keys" sort', () => {
    const input = JSON.parse(
      '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        ' "literals": [null, true, false]}',
    );
    expect(canonicalJson(input)).toBe(
      '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
        '"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
    );
    // Keys sort by UTF-16 code units (RFC 8785 3.2.3), so U+1F602 (a surrogate pair) sorts before U+FB33.
    const weird = {
      '\u20ac': 'Euro Sign',
      '1': 'One',
      '\u0080': 'Control',
      '\ud83d\ude02': 'Smiley',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '</script>': 'Browser Challenge',
    };
    expect(canonicalJson(weird)).toBe(
      '{"1":"One","</script>":"Browser Challenge","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude02":"Smiley","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    expect(canonicalJson(weird)).toBe(canonicalize(weird));
  });

  it('agrees with the canonicalize package on plain JSON data', () => {
    for (const r of chain.slice(0, 10)) expect(canonicalJson(r)).toBe(canonicalize(r));
    const v = { s: 'tab\there "q" \\ \u0001 ü', n: [0, -1, 1.5, 1e-6, 123456789012], t: true, f: false, z: null };
    expect(canonicalJson(v)).toBe(canonicalize(v));
  });

  it('follows JSON semantics for toJSON, undefined members and __proto__', () => {
    expect(canonicalJson({ when: new Date('2024-01-02T03:04:05Z') })).toBe('{"when":"2024-01-02T03:04:05.000Z"}');
    expect(canonicalJson({ a: undefined, b: 1 })).toBe('{"b":1}');
    expect(canonicalJson([1, undefined, 2])).toBe('[1,null,2]');
    expect(canonicalJson(JSON.parse('{"__proto__":{"x":1},"a":2}'))).toBe('{"__proto__":{"x":1},"a":2}');
    const shared = { k: 1 };
    expect(canonicalJson({ a: shared, b: shared })).toBe('{"a":{"k":1},"b":{"k":1}}');
  });

  it('throws a clear error, with the path, for what it cannot serialise', () => {
    const circular: Record<string, unknown> = { a: 1 };
    circular.self = circular;
    const cases: Array<[unknown, RegExp]> = [
      [undefined, /^canonicalJson: cannot serialise undefined \(there is no JSON text for it\) at \$$/],
      [10n, /a bigint \(10n\) at \$$/],
      [{ rows: { n: 10n } }, /a bigint \(10n\) at \$\.rows\.n$/],
      [NaN, /the number NaN at \$$/],
      [{ x: [1, Infinity] }, /the number Infinity at \$\.x\[1\]$/],
      [{ 'a b': -Infinity }, /the number -Infinity at \$\["a b"\]$/],
      [() => 1, /a function at \$$/],
      [{ f: () => 1 }, /a function at \$\.f$/],
      [[Symbol('s')], /a symbol at \$\[0\]$/],
      [circular, /a circular reference at \$\.self$/],
      [{ m: new Map([[1, 2]]) }, /a Map .* at \$\.m$/],
      [{ s: new Set([1]) }, /a Set .* at \$\.s$/],
      [{ u: new Uint8Array(2) }, /a Uint8Array .* at \$\.u$/],
      [{ s: 'bad \ud800 surrogate' }, /lone UTF-16 surrogate at \$\.s$/],
      [{ ['\udc00']: 1 }, /a key containing a lone UTF-16 surrogate/],
    ];
    for (const [value, message] of cases) {
      expect(() => canonicalJson(value)).toThrow(message);
    }
    expect(canonicalJson('pair \ud83d\ude02 ok')).toBe('"pair 😂 ok"');
  });
});

describe('performance sanity', () => {
  it('builds and verifies 100,000 records', () => {
    const n = 100_000;
    const t0 = performance.now();
    const big = buildChain(n);
    const t1 = performance.now();
    const v = verifyAuditChain(big, { head: big[n - 1].hash });
    const t2 = performance.now();
    expect(v).toMatchObject({ ok: true, count: n, last_seq: n });
    const tampered = big.slice();
    tampered[n - 2] = { ...tampered[n - 2], reason: 'x' };
    expect(verifyAuditChain(tampered)).toMatchObject({ ok: false, problem: 'altered', seq: n - 1 });
    console.log(
      `[audit-chain] 100,000 records: build ${(t1 - t0).toFixed(0)} ms, verify ${(t2 - t1).toFixed(0)} ms`,
    );
  });
});

describe('verifyAuditChain on stored records (JSON columns as text, as `audit verify` reads them)', () => {
  /** The rows as the audit table holds them: partitions and details as the JSON text appendAudits writes. */
  const stored = (records: AuditRecord[]): StoredAuditRecord[] =>
    records.map(({ partitions, details, ...rest }) => ({ ...rest, partitions_json: JSON.stringify(partitions), details_json: JSON.stringify(details) }));

  it('verifies a sealed chain exactly as the parsed records do', () => {
    expect(verifyAuditChain(stored(chain), { head: HEAD })).toEqual(verifyAuditChain(copy(chain), { head: HEAD }));
    expect(verifyAuditChain(stored(chain)).ok).toBe(true);
  });

  it('accepts JSON text rewritten into an equivalent form (key order, spacing): it means what was sealed', () => {
    const rows = stored(chain);
    const details = JSON.parse(rows[9].details_json!) as Record<string, unknown>;
    rows[9] = { ...rows[9], details_json: JSON.stringify(Object.fromEntries(Object.entries(details).reverse()), null, 2) };
    rows[10] = { ...rows[10], partitions_json: ` ${rows[10].partitions_json} ` };
    expect(verifyAuditChain(rows).ok).toBe(true);
  });

  it('reports a changed details or partitions text as altered', () => {
    const rows = stored(chain);
    rows[4] = { ...rows[4], details_json: rows[4].details_json!.replace('"note":', '"notes":') };
    expectProblem(verifyAuditChain(rows), 'altered', 5);
    const other = stored(chain);
    other[6] = { ...other[6], partitions_json: '["2024-01-01","2024-01-02"]' };
    expectProblem(verifyAuditChain(other), 'altered', 7);
  });

  it('reports text moved between the two JSON columns as altered, even when the spliced record text is unchanged', () => {
    const rows = stored(chain);
    const r = rows[2];
    // details holds its own "partitions" key: cut details there and prepend the rest to partitions,
    // so that details_json + ',"partitions":' + partitions_json is still the sealed text.
    const cut = r.details_json!.indexOf(',"partitions":');
    const moved = r.details_json!.indexOf('"partitions":');
    const at = cut >= 0 ? cut : moved - 1;
    expect(at).toBeGreaterThan(0);
    const head = r.details_json!.slice(0, at);
    const tail = r.details_json!.slice(at + ',"partitions":'.length);
    const tampered = { ...r, details_json: head, partitions_json: `${tail},"partitions":${r.partitions_json}` };
    expect(`${tampered.details_json},"partitions":${tampered.partitions_json}`).toBe(`${r.details_json},"partitions":${r.partitions_json}`);
    rows[2] = tampered;
    expectProblem(verifyAuditChain(rows), 'altered', 3);
  });
});
