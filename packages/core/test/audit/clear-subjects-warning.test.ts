import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { ConfigError, createAdmin, createWarden, MemoryStore } from '@tokenwarden/core';
import { masterKey, MemorySink, MemorySubjectKeyStore } from '@tokenwarden/core/internal';
import { testJwtOptions } from '@tokenwarden/testing';
import { memoryLogger, view } from '../support';

const CHAIN_KEY = Buffer.alloc(32, 3);
const FINGERPRINT_KEY = Buffer.alloc(32, 4);

/** The warning, matched on what it must tell an operator. */
const CLEAR_SUBJECTS =
  /^warn: audit\.subjectKeys is not set: the audit trail writes subject and dataSubject in clear, .*cannot be erased.*audit\.subjectKeys \(see docs\/privacy\.md\).*audit\.subjectKeys: false/;

afterEach(() => {
  jest.restoreAllMocks();
});

describe('a trail that names people in clear says so once at start-up', () => {
  it('with the default standard-output trail and no audit.subjectKeys', async () => {
    const logger = memoryLogger();
    jest.spyOn(process.stdout, 'write').mockImplementation(() => true);
    const warden = createWarden({
      jwt: testJwtOptions(),
      logger,
      audit: { chainKey: CHAIN_KEY, fingerprintKey: FINGERPRINT_KEY },
    });
    expect(logger.lines).toEqual([expect.stringMatching(CLEAR_SUBJECTS)]);
    await warden.check(view({ path: '/customers/jane.doe@example.com' }));
    await warden.check(view());
    await warden.close();
    // Once, and naming no one.
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines.join('\n')).not.toContain('jane.doe');
  });

  it('with configured sinks and no audit.subjectKeys', async () => {
    const logger = memoryLogger();
    const warden = createWarden({
      jwt: testJwtOptions(),
      logger,
      audit: { sinks: [new MemorySink()], chainKey: CHAIN_KEY, fingerprintKey: FINGERPRINT_KEY },
    });
    await warden.close();
    expect(logger.lines).toEqual([expect.stringMatching(CLEAR_SUBJECTS)]);
  });

  it('not with audit.subjectKeys: false, which states the choice', async () => {
    const logger = memoryLogger();
    const sink = new MemorySink();
    const warden = createWarden({
      jwt: testJwtOptions(),
      logger,
      audit: {
        sinks: [sink],
        chainKey: CHAIN_KEY,
        fingerprintKey: FINGERPRINT_KEY,
        subjectKeys: false,
      },
    });
    await warden.check(view());
    await warden.close();
    expect(logger.lines).toEqual([]);
    // The trail is written as without the option.
    expect(sink.events.map((e) => e.type)).toEqual(['access.decision']);
  });

  it('not when the identifiers are sealed per person', async () => {
    const logger = memoryLogger();
    const warden = createWarden({
      jwt: testJwtOptions(),
      logger,
      audit: {
        sinks: [new MemorySink()],
        chainKey: CHAIN_KEY,
        fingerprintKey: FINGERPRINT_KEY,
        subjectKeys: { store: new MemorySubjectKeyStore(), masterKey: masterKey(randomBytes(32)) },
      },
    });
    await warden.close();
    expect(logger.lines).toEqual([]);
  });

  it('not with audit: false, whose own warning is the only one', async () => {
    const logger = memoryLogger();
    const warden = createWarden({ jwt: testJwtOptions(), logger, audit: false });
    await warden.close();
    expect(logger.lines).toEqual([expect.stringMatching(/^warn: audit: false: /)]);
  });

  it('not from an admin (tools warn on their own terms)', async () => {
    const logger = memoryLogger();
    const admin = createAdmin({
      store: new MemoryStore(),
      logger,
      audit: { sinks: [new MemorySink()], chainKey: CHAIN_KEY },
    });
    await admin.close();
    expect(logger.lines).toEqual([]);
  });

  it('refuses an audit.subjectKeys that is neither settings nor false', () => {
    expect(() =>
      createWarden({
        jwt: testJwtOptions(),
        audit: { sinks: [], chainKey: CHAIN_KEY, subjectKeys: true as unknown as false },
      }),
    ).toThrow(ConfigError);
    expect(() =>
      createWarden({
        jwt: testJwtOptions(),
        audit: {
          sinks: [new MemorySink()],
          chainKey: CHAIN_KEY,
          subjectKeys: 'yes' as unknown as false,
        },
      }),
    ).toThrow(/audit\.subjectKeys must be \{ store, masterKey \}.* or false/);
  });
});
