import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import {
  ConfigError,
  createAdmin,
  createWarden,
  FileSubjectKeyStore,
  MASTER_KEY_ENV,
  MemoryStore,
  SUBJECT_KEYS_ENV,
} from '@tokenwarden/core';
import { MemorySink, SubjectOpener, masterKey } from '@tokenwarden/core/internal';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { bearer, memoryLogger } from '../support';

const CHAIN_KEY = Buffer.alloc(32, 3);
const FINGERPRINT_KEY = Buffer.alloc(32, 4);
const SUBJECT = 'jane.doe@example.com';

const saved = new Map<string, string | undefined>();
let dir: string;
beforeEach(async () => {
  for (const name of [MASTER_KEY_ENV, SUBJECT_KEYS_ENV]) saved.set(name, process.env[name]);
  delete process.env[SUBJECT_KEYS_ENV];
  dir = await mkdtemp(join(tmpdir(), 'tw-default-sealing-'));
});
afterEach(async () => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  await rm(dir, { recursive: true, force: true });
});

/** A warden on `store` with a memory sink; one request by SUBJECT; the events written. */
async function oneRequest(store: MemoryStore, extra: { subjectKeys?: false } = {}) {
  const logger = memoryLogger();
  const sink = new MemorySink();
  const warden = createWarden({
    jwt: testJwtOptions(),
    store,
    logger,
    audit: { sinks: [sink], chainKey: CHAIN_KEY, fingerprintKey: FINGERPRINT_KEY, ...extra },
  });
  const decision = await warden.check(bearer(mintToken({ claims: { sub: SUBJECT } })));
  await warden.close();
  return { decision, events: sink.events, logger };
}

describe('with $TOKENWARDEN_MASTER_KEY set, the trail is sealed by default', () => {
  it('stores a pseudonym and a copy the master key opens, keys in $TOKENWARDEN_SUBJECT_KEYS', async () => {
    const key = randomBytes(32);
    process.env[MASTER_KEY_ENV] = key.toString('base64url');
    process.env[SUBJECT_KEYS_ENV] = join(dir, 'keys');
    const store = new MemoryStore();
    const { decision, events, logger } = await oneRequest(store);
    expect(decision.outcome).toBe('allow');
    const [event] = events;
    expect(event?.subject).toMatch(/^ps:/);
    expect(event?.sealed?.subject).toEqual(expect.any(String));
    expect(JSON.stringify(events)).not.toContain('jane.doe');
    // No clear-identifier warning: the trail is sealed.
    expect(logger.lines.filter((l) => l.includes('subjectKeys'))).toEqual([]);
    // The store kept the key: the master key opens the copy.
    // The keys are durable: a reader started later opens the copy with the master key.
    const opener = new SubjectOpener({
      store: new FileSubjectKeyStore(join(dir, 'keys')),
      masterKeys: [masterKey(key)],
    });
    expect((await opener.open(event!)).subject).toBe(SUBJECT);
  });

  it('is refused with audit.subjectKeys: false, which keeps identifiers in clear', async () => {
    process.env[MASTER_KEY_ENV] = randomBytes(32).toString('hex');
    process.env[SUBJECT_KEYS_ENV] = join(dir, 'keys');
    const { events } = await oneRequest(new MemoryStore(), { subjectKeys: false });
    expect(events[0]?.subject).toBe(SUBJECT);
    expect(events[0]?.sealed).toBeUndefined();
  });

  it('seals what createAdmin records too', async () => {
    process.env[MASTER_KEY_ENV] = randomBytes(32).toString('base64url');
    process.env[SUBJECT_KEYS_ENV] = join(dir, 'keys');
    const sink = new MemorySink();
    const admin = createAdmin({
      store: new MemoryStore(),
      purposes: ['marketing'],
      audit: { sinks: [sink], chainKey: CHAIN_KEY },
    });
    await admin.grantConsent({ subject: SUBJECT, purpose: 'marketing' });
    await admin.close();
    expect(sink.events.map((e) => e.dataSubject ?? e.subject)).toEqual([
      expect.stringMatching(/^ps:/),
    ]);
    expect(JSON.stringify(sink.events)).not.toContain('jane.doe');
  });

  it('does not apply to a MemoryStore without a key directory: keys would die with the process', async () => {
    process.env[MASTER_KEY_ENV] = randomBytes(32).toString('base64url');
    const { events, logger } = await oneRequest(new MemoryStore());
    expect(events[0]?.subject).toBe(SUBJECT);
    expect(logger.lines.filter((l) => l.includes('audit.subjectKeys is not set'))).toHaveLength(1);
  });

  it('does not apply without the variable: identifiers in clear, and one warning', async () => {
    delete process.env[MASTER_KEY_ENV];
    const { events, logger } = await oneRequest(new MemoryStore());
    expect(events[0]?.subject).toBe(SUBJECT);
    const warnings = logger.lines.filter((l) => l.includes('audit.subjectKeys is not set'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toContain(MASTER_KEY_ENV);
  });

  it('refuses to start on a malformed master key, naming the variable and not its value', () => {
    process.env[MASTER_KEY_ENV] = 'not-a-key-but-a-secret-value';
    process.env[SUBJECT_KEYS_ENV] = join(dir, 'keys');
    let error: unknown;
    try {
      createWarden({
        jwt: testJwtOptions(),
        store: new MemoryStore(),
        audit: { sinks: [new MemorySink()], chainKey: CHAIN_KEY },
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(String(error)).toContain(MASTER_KEY_ENV);
    expect(String(error)).not.toContain('not-a-key-but-a-secret-value');
  });
});
