import type * as NodeCrypto from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import {
  FileSubjectKeyStore,
  MemorySink,
  MemorySubjectKeyStore,
  pseudonymOf,
  loadPseudonymKey,
  rewrapSubjectKeys,
  SubjectCipher,
  SubjectKeyError,
  SubjectOpener,
  verifyChains,
  type AuditEvent,
  type SubjectKeyStore,
} from '../../src/audit';
import { masterKey, type Envelope } from '../../src/internal/envelope';
import { resolveAuditOptions } from '../../src/audit/options';
import { AuditTrail } from '../../src/audit/trail';
import { countingMetrics, decision } from './support';

const T0 = Date.UTC(2030, 0, 1, 12);
const CHAIN_KEY = randomBytes(32);

function trailWith(store: SubjectKeyStore, master = masterKey(randomBytes(32))) {
  const sink = new MemorySink();
  const errors: string[] = [];
  const clock = { now: () => T0 };
  const trail = new AuditTrail(
    resolveAuditOptions({
      producer: 'seal',
      sinks: [sink],
      chainKey: CHAIN_KEY,
      subjectKeys: { store, masterKey: master },
    }),
    { clock, metrics: countingMetrics(), logError: (m) => errors.push(m) },
  );
  return { trail, sink, errors, master, clock };
}

/** Counts the store calls. */
class CountingStore extends MemorySubjectKeyStore {
  loads = 0;
  creates = 0;
  override async load(names: readonly string[]): Promise<Map<string, Envelope>> {
    this.loads += 1;
    return super.load(names);
  }
  override async create(keys: ReadonlyMap<string, Envelope>): Promise<Map<string, Envelope>> {
    this.creates += 1;
    return super.create(keys);
  }
}

describe('sealed personal fields', () => {
  it('stores pseudonyms and encrypted copies, never the identifier, and the chain verifies', async () => {
    const store = new MemorySubjectKeyStore();
    const { trail, sink, master } = trailWith(store);
    trail.record(decision(1, { subject: 'alice@example.com', dataSubject: 'bob@example.com' }));
    trail.record(decision(1, { subject: 'alice@example.com' }));
    await trail.close();
    const text = JSON.stringify(sink.events);
    expect(text).not.toContain('alice');
    expect(text).not.toContain('bob@');
    const [first, second] = sink.events as AuditEvent[];
    expect(first!.subject).toMatch(/^ps:[A-Za-z0-9_-]{22}$/);
    expect(second!.subject).toBe(first!.subject);
    expect(first!.dataSubject).not.toBe(first!.subject);
    expect(Object.keys(first!.sealed ?? {})).toEqual(['subject', 'dataSubject']);
    expect(verifyChains(sink.events, { key: CHAIN_KEY }).every((r) => r.intact)).toBe(true);

    const opener = new SubjectOpener({ store, masterKeys: [master] });
    const opened = await opener.open(first!);
    expect([opened.subject, opened.dataSubject, opened.sealed]).toEqual([
      'alice@example.com',
      'bob@example.com',
      undefined,
    ]);
    // Without the master key the pseudonyms stay.
    expect((await new SubjectOpener({ store }).open(first!)).subject).toBe(first!.subject);
  });

  it('after the key is destroyed, readers show erased:<pseudonym> and the chain still verifies', async () => {
    const store = new MemorySubjectKeyStore();
    const { trail, sink, master } = trailWith(store);
    trail.record(decision(1, { subject: 'carol' }));
    trail.record(decision(1, { subject: 'dave' }));
    await trail.close();
    const key = await loadPseudonymKey(store, [master], false);
    const pseudonym = pseudonymOf(key!, 'carol');
    expect(await store.destroy(pseudonym)).toBe(true);
    const opener = new SubjectOpener({ store, masterKeys: [master] });
    const shown = await Promise.all(sink.events.map((e) => opener.open(e)));
    expect(shown.map((e) => e.subject)).toEqual([`erased:${pseudonym}`, 'dave']);
    expect(verifyChains(sink.events, { key: CHAIN_KEY }).every((r) => r.intact)).toBe(true);
  });

  it('a wrong master key is a clear error', async () => {
    const store = new MemorySubjectKeyStore();
    const { trail, sink } = trailWith(store);
    trail.record(decision(1, { subject: 'erin' }));
    await trail.close();
    const opener = new SubjectOpener({ store, masterKeys: [masterKey(randomBytes(32))] });
    await expect(opener.open(sink.events[0]!)).rejects.toThrow(SubjectKeyError);
    await expect(opener.open(sink.events[0]!)).rejects.toThrow(/not configured/);
  });

  it('keys of a batch are loaded and created in one call each, then served from memory', async () => {
    const store = new CountingStore();
    const { trail } = trailWith(store);
    for (let i = 0; i < 50; i++) trail.record(decision(1, { subject: `user-${i % 10}` }));
    await trail.flush();
    // Pseudonym key: one load and one create; the batch's subjects: one load and one create.
    expect([store.loads, store.creates]).toEqual([2, 2]);
    for (let i = 0; i < 50; i++) trail.record(decision(1, { subject: `user-${i % 10}` }));
    await trail.close();
    expect([store.loads, store.creates]).toEqual([2, 2]);
  });

  it('a key store that fails withholds the identifiers instead of writing them in clear', async () => {
    const store = new MemorySubjectKeyStore();
    store.load = () => Promise.reject(new Error('down'));
    const { trail, sink, errors } = trailWith(store);
    trail.record(decision(1, { subject: 'frank', dataSubject: 'frank' }));
    await trail.close();
    expect(JSON.stringify(sink.events)).not.toContain('frank');
    expect(sink.events[0]!.subject).toBe('withheld');
    expect(errors.join('\n')).toMatch(/withheld/);
  });

  it('rewrap moves every key to a new master key', async () => {
    const store = new MemorySubjectKeyStore();
    const { trail, sink, master } = trailWith(store);
    trail.record(decision(1, { subject: 'gina' }));
    await trail.close();
    const next = masterKey(randomBytes(32));
    expect(await rewrapSubjectKeys(store, [next, master])).toBe(2);
    const opened = await new SubjectOpener({ store, masterKeys: [next] }).open(sink.events[0]!);
    expect(opened.subject).toBe('gina');
    expect(await rewrapSubjectKeys(store, [next])).toBe(0);
  });
});

describe('FileSubjectKeyStore', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenwarden-subject-keys-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps keys in files, the first one stored wins, destroy removes the file', async () => {
    const store = new FileSubjectKeyStore(join(dir, 'keys'));
    const { trail, sink, master } = trailWith(store);
    trail.record(decision(1, { subject: 'hugo' }));
    await trail.close();
    const files = await readdir(join(dir, 'keys'));
    expect(files.sort()).toHaveLength(2);
    expect(files.join(' ')).not.toContain('hugo');
    const again = new FileSubjectKeyStore(join(dir, 'keys'));
    const names: string[] = [];
    for await (const name of again.names()) names.push(name);
    const pseudonym = sink.events[0]!.subject!;
    expect(names.sort()).toEqual([pseudonym, 'pseudonym-key'].sort());
    const opener = new SubjectOpener({ store: again, masterKeys: [master] });
    expect((await opener.open(sink.events[0]!)).subject).toBe('hugo');
    expect(await again.destroy(pseudonym)).toBe(true);
    expect(await again.destroy(pseudonym)).toBe(false);
    const after = new SubjectOpener({ store: again, masterKeys: [master] });
    expect((await after.open(sink.events[0]!)).subject).toBe(`erased:${pseudonym}`);
  });
});

describe('SubjectCipher', () => {
  it('seals a record under the data subject key, which erasure destroys', async () => {
    const store = new MemorySubjectKeyStore();
    const master = masterKey(randomBytes(32));
    const cipher = new SubjectCipher({ store, masterKey: master });
    const sealed = await cipher.seal('ida@example.com', '{"evidence":"form-77"}', 'consent:news');
    expect(sealed).toMatch(/^sk1\.ps:[A-Za-z0-9_-]{22}\./);
    expect(sealed).not.toContain('ida');
    expect(sealed).not.toContain('form-77');
    const reader = new SubjectCipher({ store, masterKey: master });
    expect(await reader.open(sealed, 'consent:news')).toBe('{"evidence":"form-77"}');
    // Moved to another record: refused.
    await expect(reader.open(sealed, 'consent:other')).rejects.toThrow(SubjectKeyError);
    // The audit trail and the cipher share the person's key: one erasure shreds both.
    const { trail, sink } = trailWith(store, master);
    trail.record(decision(1, { subject: 'ida@example.com' }));
    await trail.close();
    expect(sealed.split('.')[1]).toBe(sink.events[0]!.subject);
    expect(await store.destroy(sink.events[0]!.subject!)).toBe(true);
    expect(await new SubjectCipher({ store, masterKey: master }).open(sealed, 'consent:news')).toBe(
      undefined,
    );
  });
});

describe('cost of sealing', () => {
  it('encrypts once per new data subject, never once per event, and not in record()', async () => {
    // The module object itself (an `import *` would be a copy under the test transform).
    const spy = jest.spyOn(jest.requireActual<typeof NodeCrypto>('node:crypto'), 'createCipheriv');
    try {
      const { trail } = trailWith(new MemorySubjectKeyStore());
      for (let i = 0; i < 1_000; i++) {
        trail.record(decision(i, { subject: `user-${i % 10}`, dataSubject: `user-${i % 10}` }));
      }
      // Recording (the request's part) encrypts nothing.
      expect(spy).not.toHaveBeenCalled();
      await trail.flush();
      // The pseudonym key and ten subject keys wrapped, ten identifiers encrypted: 21 in all.
      expect(spy).toHaveBeenCalledTimes(21);
      spy.mockClear();
      for (let i = 0; i < 1_000; i++) trail.record(decision(i, { subject: `user-${i % 10}` }));
      await trail.close();
      expect(spy).not.toHaveBeenCalled();
    } finally {
      spy.mockRestore();
    }
  });
});
