import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  auditLine,
  canonicalJson,
  checkpointKeyFromChainKey,
  chainKeyId,
  ChainHasher,
  MemorySink,
  parseAuditLine,
  readCheckpoints,
  verifyChains,
  type AuditEvent,
  type ChainHead,
  type VerifyChainOptions,
} from '@tokenwarden/core/internal';
import { FakeClock } from '@tokenwarden/testing';
import { resolveAuditOptions, type AuditOptions } from '../../src/audit/options';
import { AuditTrail } from '../../src/audit/trail';
import { countingMetrics, decision } from './support';

const T0 = Date.UTC(2030, 0, 1, 12);
const DAY = 86_400_000;

/** A keyed trail of `count` events, with a checkpoint every `every` events, as a reader sees it. */
async function trail(
  count: number,
  options: { key?: Buffer; every?: number; clock?: FakeClock; extra?: AuditOptions } = {},
) {
  const dir = mkdtempSync(join(tmpdir(), 'tw-tamper-'));
  const file = join(dir, 'checkpoints.jsonl');
  const key = options.key ?? randomBytes(32);
  const clock = options.clock ?? new FakeClock(T0);
  const sink = new MemorySink();
  const errors: string[] = [];
  const t = new AuditTrail(
    resolveAuditOptions({
      sinks: [sink],
      chainKey: key,
      producer: 'api-1',
      batchSize: 1,
      checkpoints: { sink: file, everyEvents: options.every ?? 5 },
      ...options.extra,
    }),
    { clock, metrics: countingMetrics(), logError: (m) => errors.push(m) },
  );
  for (let i = 1; i <= count; i++) {
    t.record(decision(i));
    await t.flush();
    clock.advance(1000);
  }
  await t.close();
  expect(errors).toEqual([]);
  const events = sink.events.map((e) => parseAuditLine(auditLine(e)));
  const read = readCheckpoints(readFileSync(file, 'utf8'), {
    keys: [checkpointKeyFromChainKey(key)],
    chainKeyId: chainKeyId(key),
  });
  return { events, key, file, checkpoints: read.heads, problems: read.problems };
}

function found(events: AuditEvent[], options: VerifyChainOptions) {
  return verifyChains(events, options).flatMap((r) =>
    r.problems.map((p) => ({ kind: p.kind, seq: p.seq, message: p.message })),
  );
}

describe('a keyed chain by default', () => {
  it('refuses to start a trail with sinks and no chain key, unless chain: false', () => {
    const saved = process.env.TOKENWARDEN_AUDIT_CHAIN_KEY;
    delete process.env.TOKENWARDEN_AUDIT_CHAIN_KEY;
    try {
      expect(() => resolveAuditOptions({ sinks: [new MemorySink()] })).toThrow(
        /audit.chainKey is required: .*TOKENWARDEN_AUDIT_CHAIN_KEY.*audit.chain: false/,
      );
      expect(resolveAuditOptions({ sinks: [new MemorySink()], chain: false }).chainKey).toBe(
        undefined,
      );
    } finally {
      if (saved !== undefined) process.env.TOKENWARDEN_AUDIT_CHAIN_KEY = saved;
    }
  });

  it('reads the chain key from an environment variable or a file', () => {
    const key = randomBytes(32).toString('base64url');
    process.env.TW_TEST_CHAIN_KEY = key;
    const file = join(mkdtempSync(join(tmpdir(), 'tw-key-')), 'chain.key');
    writeFileSync(file, key + '\n');
    try {
      const sinks = [new MemorySink()];
      const fromEnv = resolveAuditOptions({ sinks, chainKey: { env: 'TW_TEST_CHAIN_KEY' } });
      const fromFile = resolveAuditOptions({ sinks, chainKey: { file } });
      expect(fromEnv.chainKey!.equals(Buffer.from(key))).toBe(true);
      expect(fromFile.chainKey!.equals(Buffer.from(key))).toBe(true);
      expect(() => resolveAuditOptions({ sinks, chainKey: { file: file + '.none' } })).toThrow(
        /audit.chainKey: cannot read file .*chain.key.none \(ENOENT\)/,
      );
      expect(() => resolveAuditOptions({ sinks, chain: false, chainKey: key })).toThrow(
        /contradict/,
      );
      expect(() =>
        resolveAuditOptions({ sinks, chain: false, checkpoints: { sink: file } }),
      ).toThrow(/audit.checkpoints.signingKey is required with audit.chain: false/);
      const typo = { sink: file, everyEvent: 5 } as unknown as AuditOptions['checkpoints'];
      expect(() => resolveAuditOptions({ sinks, checkpoints: typo })).toThrow(
        'unknown option audit.checkpoints.everyEvent; known: sink, everyEvents, everyMs, signingKey',
      );
      expect(() => resolveAuditOptions({ sinks, checkpoints: { sink: file, everyMs: 0 } })).toThrow(
        'audit.checkpoints.everyMs must be a whole number of ms from 1 to 86400000',
      );
    } finally {
      delete process.env.TW_TEST_CHAIN_KEY;
    }
  });

  it('refuses a chain recomputed without the key when a key is expected', async () => {
    const { events, key } = await trail(4);
    const hasher = new ChainHasher(undefined);
    let prev: string | undefined;
    const forged = events.map((e, i) => {
      const changed: Record<string, unknown> = { ...e, prevHash: prev };
      if (i === 1) changed.subject = 'forged';
      delete changed.hash;
      const hash = hasher.digest(canonicalJson(changed as unknown as AuditEvent));
      prev = hash;
      return { ...changed, hash } as unknown as AuditEvent;
    });
    expect(verifyChains(forged)[0]!.intact).toBe(true); // what an unkeyed check would say
    const problems = found(forged, { key });
    expect(problems).toEqual([
      {
        kind: 'unkeyed',
        seq: 1,
        message: expect.stringMatching(
          /^producer api-1\.\S+ event 1: the hash is an unkeyed SHA-256 but a chain key is expected/,
        ) as unknown as string,
      },
    ]);
  });
});

describe('stored lines must be canonical', () => {
  it.each([
    [
      'a duplicate key',
      (l: string) => l.replace('"outcome":"allow"', '"outcome":"deny","outcome":"allow"'),
    ],
    [
      'reordered keys',
      (l: string) => l.replace(/^\{("schemaVersion":\d+),("id":"[^"]+"),/, '{$2,$1,'),
    ],
    ['extra whitespace', (l: string) => l.replace('","', '", "')],
    [
      'another escape',
      (l: string) => l.replace('"type":"access.decision"', '"type":"access\\u002edecision"'),
    ],
  ])('reports %s as noncanonical, though the event parses the same', async (_what, edit) => {
    const { events, key } = await trail(3);
    const line = auditLine(events[0]!);
    const edited = edit(line);
    expect(edited).not.toBe(line);
    const parsed = parseAuditLine(edited);
    expect(canonicalJson(parsed)).toBe(canonicalJson(events[0]!)); // same event, same hash
    const problems = found([parsed, ...events.slice(1)], { key });
    expect(problems).toEqual([
      {
        kind: 'noncanonical',
        seq: 1,
        message: expect.stringMatching(
          /^producer api-1\.\S+ event 1: the stored line differs from its canonical form/,
        ) as unknown as string,
      },
    ]);
  });

  it('a duplicate key that changes a value is noncanonical and altered', async () => {
    const { events, key } = await trail(3);
    const line = auditLine(events[1]!);
    const parsed = parseAuditLine(
      line.replace('"outcome":"allow"', '"outcome":"allow","outcome":"deny"'),
    );
    const kinds = found([events[0]!, parsed, events[2]!], { key }).map((p) => p.kind);
    expect(kinds).toEqual(['altered', 'noncanonical']);
  });
});

describe('signed checkpoints', () => {
  it('are written every N events and at close, verify, and leave an intact trail intact', async () => {
    const { events, key, checkpoints, problems } = await trail(12, { every: 5 });
    expect(problems).toEqual([]);
    expect(checkpoints.map((c) => c.seq)).toEqual([5, 10, 12]);
    expect(checkpoints.every((c) => c.source === 'checkpoint')).toBe(true);
    expect(found(events, { key, heads: checkpoints, retention: 'off' })).toEqual([]);
  });

  it('catch a cut tail with a rewound head', async () => {
    const { events, key, checkpoints } = await trail(12, { every: 5 });
    const cut = events.slice(0, 8);
    // The attacker also rewound the head kept next to the events.
    const rewound: ChainHead = { producer: cut[7]!.producer!, seq: 8, hash: cut[7]!.hash! };
    const problems = found(cut, { key, heads: [rewound, ...checkpoints], retention: 'off' });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toMatchObject({ kind: 'truncated', seq: 10 });
    expect(problems[0]!.message).toMatch(
      /^producer api-1\.\S+: the chain ends at event 8 but a signed checkpoint at event 10 \(2030-01-01T12:00:09\.000Z\) records more: the tail was cut/,
    );
    expect(problems[1]).toMatchObject({ kind: 'truncated', seq: 12 });
  });

  it('catch a rewritten event at a checkpoint', async () => {
    const { events, key, checkpoints } = await trail(6, { every: 5 });
    // Rebuilt from event 4 on with the key (an insider): the chain is consistent, the
    // checkpoint at 5 is not.
    const hasher = new ChainHasher(key);
    const rebuilt = events.map((e) => ({ ...e }) as Record<string, unknown>);
    for (let i = 3; i < rebuilt.length; i++) {
      if (i === 3) rebuilt[i]!.subject = 'rewritten';
      rebuilt[i]!.prevHash = rebuilt[i - 1]!.hash;
      delete rebuilt[i]!.hash;
      rebuilt[i]!.hash = hasher.digest(canonicalJson(rebuilt[i] as unknown as AuditEvent));
    }
    const problems = found(rebuilt as unknown as AuditEvent[], { key, heads: checkpoints });
    expect(problems.map((p) => [p.kind, p.seq])).toEqual([
      ['altered', 5],
      ['altered', 6],
    ]);
    expect(problems[0]!.message).toMatch(/event 5 differs from a signed checkpoint at event 5/);
  });

  it('catch a cut start when retention is off, or inside the retention window', async () => {
    const clock = new FakeClock(T0);
    const { events, key, checkpoints } = await trail(12, { every: 5, clock });
    const late = events.slice(7);
    const off = found(late, { key, heads: checkpoints, retention: 'off' });
    expect(off).toEqual([
      {
        kind: 'cut_start',
        seq: 8,
        message: expect.stringMatching(
          /^producer api-1\.\S+: the chain starts at event 8; events 1 to 7 are gone and retention is off: the start was cut$/,
        ) as unknown as string,
      },
    ]);
    // Retention 30 days, checked a day later: the producer started inside the window, so none
    // of its events can have been trimmed (the start time is part of its id).
    const since = T0 + DAY - 30 * DAY;
    const inside = found(late, { key, retention: { since } });
    expect(inside.map((p) => [p.kind, p.seq])).toEqual([['cut_start', 8]]);
    expect(inside[0]!.message).toMatch(
      /^producer api-1\.\S+: the chain starts at event 8; events 1 to 7 are gone, but the producer started at 2030-01-01T12:00:00\.000Z, inside the retention window .* so none of its events can have been trimmed: the start was cut$/,
    );
    // A window that began after the producer started but before the checkpoint at 5 was taken
    // (event 5 was written at T0 + 4 s): event 5 should still be there.
    const later = found(late, { key, heads: checkpoints, retention: { since: T0 + 2_000 } });
    expect(later.map((p) => [p.kind, p.seq])).toEqual([['cut_start', 8]]);
    expect(later[0]!.message).toMatch(
      /events up to 5 are gone, but a signed checkpoint at event 5 \(2030-01-01T12:00:04\.000Z\) is inside the retention window/,
    );
    // Checked 31 days later: events 1 to 7 may have been trimmed.
    const trimmed = verifyChains(late, {
      key,
      heads: checkpoints,
      retention: { since: T0 + 31 * DAY - 30 * DAY },
    });
    expect(trimmed[0]).toMatchObject({ intact: true, trimmedBefore: true, firstSeq: 8 });
  });

  it('catch a vanished producer', async () => {
    const a = await trail(6, { every: 5 });
    const b = await trail(3, { every: 5, key: a.key });
    const heads = [...a.checkpoints, ...b.checkpoints];
    const problems = found(b.events, { key: a.key, heads, retention: 'off' });
    expect(problems).toEqual([
      {
        kind: 'vanished',
        seq: 5,
        message: expect.stringMatching(
          /^every event of producer api-1\.\S+ is gone, but a signed checkpoint at event 5 .* says it wrote them \(retention is off\)$/,
        ) as unknown as string,
      },
      expect.objectContaining({ kind: 'vanished', seq: 6 }),
    ]);
    // Past the retention window, a producer may go: trimmed, not vanished.
    expect(found(b.events, { key: a.key, heads, retention: { since: T0 + 40 * DAY } })).toEqual([]);
  });

  it('refuse a forged, edited or foreign checkpoint', async () => {
    const { key, file } = await trail(6, { every: 5 });
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const edited = lines[0]!.replace('"seq":5', '"seq":4');
    const spaced = lines[0]!.replace('","', '", "');
    const other = generateKeyPairSync('ed25519');
    const text = [edited, spaced, 'not json', lines[1]].join('\n');
    const read = readCheckpoints(text, { keys: [checkpointKeyFromChainKey(key)] });
    expect(read.heads.map((h) => h.seq)).toEqual([6]);
    expect(read.problems.map((p) => p.message)).toEqual([
      expect.stringMatching(
        /^checkpoint line 1 \(producer api-1\.\S+, event 4\): the signature does not verify/,
      ),
      expect.stringMatching(/^checkpoint line 2 .* differs from its canonical form$/),
      'checkpoint line 3 is not JSON',
    ]);
    const foreign = readCheckpoints(lines[1]!, { keys: [other.publicKey] });
    expect(foreign.problems[0]!.message).toMatch(
      /is signed by key cp-[0-9a-f]{16}, which is not among the checkpoint keys given/,
    );
    const otherChain = readCheckpoints(lines[1]!, {
      keys: [checkpointKeyFromChainKey(key)],
      chainKeyId: chainKeyId(randomBytes(32)),
    });
    expect(otherChain.problems[0]!.message).toMatch(/was written with chain key ck-/);
  });

  it('are signed with a configured Ed25519 key, verifiable with its public key', async () => {
    const pair = generateKeyPairSync('ed25519');
    const pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const dir = mkdtempSync(join(tmpdir(), 'tw-cp-'));
    const file = join(dir, 'sub', 'checkpoints.jsonl');
    const sink = new MemorySink();
    const clock = new FakeClock(T0);
    const t = new AuditTrail(
      resolveAuditOptions({
        sinks: [sink],
        chain: false,
        producer: 'api-2',
        checkpoints: { sink: file, everyEvents: 100, everyMs: 5_000, signingKey: pem },
      }),
      { clock, metrics: countingMetrics(), logError: () => undefined },
    );
    for (let i = 1; i <= 4; i++) {
      t.record(decision(i));
      await t.flush();
      clock.advance(3_000);
    }
    await t.close();
    const read = readCheckpoints(readFileSync(file, 'utf8'), { keys: [pair.publicKey] });
    expect(read.problems).toEqual([]);
    // Every 5 s by time (at events 3), then one at close (event 4).
    expect(read.heads.map((h) => h.seq)).toEqual([3, 4]);
    const events = sink.events.map((e) => parseAuditLine(auditLine(e)));
    expect(found(events, { heads: read.heads, retention: 'off' })).toEqual([]);
  });
});
