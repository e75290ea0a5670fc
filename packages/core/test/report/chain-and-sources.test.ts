import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import {
  ChainHasher,
  canonicalJson,
  verifyChains,
  type AuditEvent,
} from '@tokenwarden/core/internal';
import {
  AuditSourceError,
  exposureReport,
  formatReport,
  JsonLinesSource,
  MemorySource,
  StreamingChainCheck,
} from '@tokenwarden/core/reports';
import { chainedEvents } from '@tokenwarden/testing';
import { jsonLines, scenario } from './generate';

const dir = mkdtempSync(join(tmpdir(), 'tw-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tampered trails', () => {
  const s = scenario();

  it('an altered event: the report says the chain did not verify, and where', async () => {
    const index = s.events.findIndex(
      (e) => e.tokenId === 'tok-leak' && e.type === 'access.decision' && e.dataSubject === 'cust-3',
    );
    const victim = s.events[index]!;
    const tampered = s.events.map((e, i) => (i === index ? { ...e, dataSubject: 'cust-99' } : e));
    const report = await exposureReport(
      new MemorySource(tampered),
      { tokenId: 'tok-leak' },
      { policy: s.policy },
    );
    expect(report.chain.verified).toBe(false);
    const broken = report.chain.chains.filter((c) => !c.intact);
    expect(broken).toHaveLength(1);
    expect(broken[0]).toEqual(
      expect.objectContaining({
        producer: victim.producer,
        problemCount: 1,
        problems: [expect.objectContaining({ kind: 'altered', seq: victim.seq, index })],
      }),
    );
    expect(formatReport(report, 'markdown')).toContain(
      `- **audit chain**: NOT VERIFIED: ${victim.producer}: 1 problem(s), first: altered at seq ${victim.seq}`,
    );
  });

  it('a deleted event shows as missing', async () => {
    const index = 100;
    const victim = s.events[index]!;
    const cut = s.events.filter((_, i) => i !== index);
    const report = await exposureReport(new MemorySource(cut), { client: 'crm' }, {});
    const broken = report.chain.chains.find((c) => !c.intact)!;
    expect(broken.producer).toBe(victim.producer);
    expect(broken.problems[0]).toEqual(
      expect.objectContaining({ kind: 'missing', seq: victim.seq! + 1 }),
    );
  });
});

describe('StreamingChainCheck', () => {
  // 5000 events: the check works in batches of 2000, so breaks at the joints must show too.
  const events = chainedEvents('p1', 1, 5000);

  const run = (list: readonly AuditEvent[], key?: Buffer) => {
    const check = new StreamingChainCheck(key);
    for (const e of list) check.add(e);
    return check.verdict();
  };

  it('verifies a long chain, as verifyChains does', () => {
    const verdict = run(events);
    expect(verdict.verified).toBe(true);
    expect(verdict.chains).toEqual([
      expect.objectContaining({
        producer: 'p1',
        events: 5000,
        firstSeq: 1,
        lastSeq: 5000,
        intact: true,
      }),
    ]);
    expect(verifyChains(events)[0]!.intact).toBe(true);
  });

  it.each([
    [
      'deleted at a batch joint',
      (l: AuditEvent[]) => l.filter((e) => e.seq !== 2001),
      'missing',
      2002,
    ],
    [
      'reordered across a joint',
      (l: AuditEvent[]) => [...l.slice(0, 2000), l[2001]!, l[2000]!, ...l.slice(2002)],
      'missing',
      2002,
    ],
    [
      'duplicated at a joint',
      (l: AuditEvent[]) => [...l.slice(0, 2000), l[1999]!, ...l.slice(2000)],
      'duplicate',
      2000,
    ],
    [
      'an event replaced by a re-hashed one at a joint',
      (l: AuditEvent[]) => {
        const forged: Record<string, unknown> = {
          ...l[2000]!,
          dataSubject: 'someone-else',
          prevHash: 'sha256:forged',
        };
        delete forged.hash;
        const hash = new ChainHasher(undefined).digest(
          canonicalJson(forged as unknown as AuditEvent),
        );
        return [
          ...l.slice(0, 2000),
          { ...forged, hash } as unknown as AuditEvent,
          ...l.slice(2001),
        ];
      },
      'broken_link',
      2001,
    ],
  ])('%s', (_name, tamper, kind, seq) => {
    const verdict = run(tamper([...events]));
    expect(verdict.verified).toBe(false);
    expect(verdict.chains[0]!.problems[0]).toEqual(expect.objectContaining({ kind, seq }));
  });

  it('a keyed chain without its key is not verified; with it, it is', () => {
    const key = Buffer.alloc(32, 7);
    const hasher = new ChainHasher(key);
    let prev: string | undefined;
    const keyed = chainedEvents('p2', 1, 3).map((e) => {
      const base: Record<string, unknown> = { ...e };
      delete base.hash;
      delete base.prevHash;
      if (prev) base.prevHash = prev;
      prev = hasher.digest(canonicalJson(base as unknown as AuditEvent));
      return { ...base, hash: prev } as unknown as AuditEvent;
    });
    expect(run(keyed).verified).toBe(false);
    expect(run(keyed).chains[0]!.problems[0]!.kind).toBe('unverifiable');
    expect(run(keyed, key)).toEqual(expect.objectContaining({ verified: true, keyed: true }));
  });

  it('caps the problems it keeps but counts them all', () => {
    const scrambled = events.map((e, i) => (i % 2 === 0 ? { ...e, status: 999 } : e));
    const chain = run(scrambled).chains[0]!;
    expect(chain.problemCount).toBe(2500);
    expect(chain.problems).toHaveLength(20);
  });
});

describe('JsonLinesSource', () => {
  const s = scenario();

  it('reads a directory of rotated files oldest first, and the chain verifies across them', async () => {
    const logs = join(dir, 'rotated');
    rmSync(logs, { recursive: true, force: true });
    mkdirSync(logs);
    const thirds = [0, 120, 250, s.events.length];
    // audit.jsonl.2 is the oldest, then .1, then the live file.
    writeFileSync(join(logs, 'audit.jsonl.2'), jsonLines(s.events.slice(thirds[0], thirds[1])));
    writeFileSync(join(logs, 'audit.jsonl.1'), jsonLines(s.events.slice(thirds[1], thirds[2])));
    writeFileSync(join(logs, 'audit.jsonl'), jsonLines(s.events.slice(thirds[2], thirds[3])));
    writeFileSync(join(logs, 'notes.txt'), 'not an audit file\n');
    const source = new JsonLinesSource({ path: logs, chunkBytes: 4096 });
    expect((await source.files()).map((f) => f.path.slice(logs.length + 1))).toEqual([
      'audit.jsonl.2',
      'audit.jsonl.1',
      'audit.jsonl',
    ]);
    const progress: number[] = [];
    const report = await exposureReport(
      source,
      { tokenId: 'tok-leak' },
      { policy: s.policy, onProgress: (p) => progress.push(p.done) },
    );
    expect(report.chain.verified).toBe(true);
    expect(report.eventsRead).toBe(s.events.length);
    expect(report.didReach.uses).toBe(60);
    expect(progress[progress.length - 1]).toBe(Buffer.byteLength(jsonLines(s.events)));
  });

  it('reports unreadable lines by file and line, and the chain as not verified', async () => {
    const file = join(dir, 'broken.jsonl');
    const lines = jsonLines(s.events.slice(0, 10)).split('\n');
    lines.splice(4, 0, '{"not json');
    writeFileSync(file, lines.join('\n'));
    const report = await exposureReport(new JsonLinesSource({ path: file }), { client: 'crm' }, {});
    expect(report.chain.unreadable).toBe(1);
    expect(report.chain.unreadableAt).toEqual(['broken.jsonl:5']);
    expect(report.chain.verified).toBe(false);
    expect(report.eventsRead).toBe(10);
  });

  it('reads a last line without a newline, and multi-byte text split across chunks', async () => {
    const file = join(dir, 'tail.jsonl');
    const events = chainedEvents('p3', 1, 40, undefined, (seq) => ({
      userAgent: `Zürich-Gerät/${seq} ✓`,
    }));
    writeFileSync(file, jsonLines(events).trimEnd());
    const got: AuditEvent[] = [];
    for await (const e of new JsonLinesSource({ path: file, chunkBytes: 7 }).read()) got.push(e);
    expect(got).toEqual(events);
  });

  it('fails with a clear error for a missing or unreadable path', async () => {
    const read = async (path: string) => {
      for await (const _ of new JsonLinesSource({ path }).read()) void _;
    };
    await expect(read(join(dir, 'missing.jsonl'))).rejects.toThrow(AuditSourceError);
    await expect(read(join(dir, 'missing.jsonl'))).rejects.toMatchObject({
      name: 'AuditSourceError',
      code: 'audit_source_invalid',
    });
    await expect(read(join(dir, 'missing.jsonl'))).rejects.toThrow(
      /cannot read .*missing\.jsonl \(ENOENT\)/,
    );
    if (process.getuid?.() !== 0) {
      const locked = join(dir, 'locked.jsonl');
      writeFileSync(locked, '');
      chmodSync(locked, 0);
      await expect(read(locked)).rejects.toThrow(/EACCES/);
    }
  });
});
