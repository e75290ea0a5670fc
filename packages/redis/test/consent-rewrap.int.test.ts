import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { masterKey, RecordCipher } from '@tokenwarden/core/internal';
import Redis from 'ioredis';
import { rewrapConsentRecords } from '../src/consent-rewrap';
import { RedisStore } from '../src/redis-store';
import { migrateSubjectNames } from '../src/subject-names-migrate';

const URL = 'redis://127.0.0.1:6379';
const RUN = `${process.pid}-${Date.now().toString(36)}`;
const redis = new Redis(URL);
const prefixes: string[] = [];

afterAll(async () => {
  for (const prefix of prefixes) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
  redis.disconnect();
});

/** Every byte stored under the prefix, as text (field values and the DUMP of each key). */
async function everything(prefix: string): Promise<string> {
  const out: string[] = [];
  for (const key of await redis.keys(`${prefix}*`)) {
    if ((await redis.type(key)) === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
    const dump = await redis.dumpBuffer(key);
    if (dump !== null) out.push(dump.toString('latin1'));
  }
  return out.join('\n');
}

const oldKey = masterKey(randomBytes(32));
const newKey = masterKey(randomBytes(32));

/** A grant with its doc; a long purpose puts the record under a hashed key. */
function grantOf(subject: string, purpose: string) {
  return {
    subject,
    purpose,
    grantedAt: Date.now(),
    source: `portal-${subject}`,
    notice: 'privacy-notice@2030-01',
    evidence: `form-${purpose.length}`,
  };
}

describe.each(['single', 'sharded'] as const)('rewrapConsentRecords, layout %s', (layout) => {
  const prefix = `tw-consent-rewrap-${layout}-${RUN}:`;
  prefixes.push(prefix);
  const storeWith = (cipher?: RecordCipher) =>
    new RedisStore({
      url: URL,
      prefix,
      layout,
      logger: false,
      ...(cipher === undefined ? {} : { recordCipher: cipher }),
    });
  const grants = [
    grantOf('lee@example.com', 'newsletter'),
    grantOf('max@example.com', 'analytics'),
    grantOf('kim@example.com', `long-${'p'.repeat(300)}`),
  ];

  it('re-seals every record under the new master key; a store with only the new key reads them', async () => {
    const before = storeWith(new RecordCipher(oldKey));
    try {
      for (const grant of grants) await before.grantConsent(grant);
      await before.withdrawConsent({
        subject: 'max@example.com',
        purpose: 'analytics',
        withdrawnAt: Date.now() + 1,
        source: 'support-ticket-12',
      });
    } finally {
      await before.close();
    }
    const plain = storeWith();
    try {
      await plain.grantConsent(grantOf('ada@example.com', 'newsletter'));
    } finally {
      await plain.close();
    }
    expect(await everything(prefix)).toContain(`rc1.${oldKey.id}.`);

    const cipher = new RecordCipher(newKey, [oldKey]);
    expect(await rewrapConsentRecords({ client: redis, prefix, cipher })).toEqual({
      resealed: 3,
      unchanged: 0,
      plain: 1,
      unreadable: 0,
    });
    const stored = await everything(prefix);
    expect(stored).toContain(`rc1.${newKey.id}.`);
    expect(stored).not.toContain(oldKey.id);
    expect(stored).toContain('portal-ada@example.com');

    const after = storeWith(new RecordCipher(newKey));
    try {
      for (const grant of grants.slice(0, 2)) {
        expect(await after.getConsent(grant.subject, grant.purpose)).toMatchObject({
          notice: grant.notice,
          evidence: grant.evidence,
        });
      }
      expect(await after.getConsent('max@example.com', 'analytics')).toMatchObject({
        source: 'support-ticket-12',
        evidence: 'form-9',
      });
      expect(await after.consentRecords('kim@example.com')).toMatchObject([
        { source: 'portal-kim@example.com', evidence: grants[2]!.evidence },
      ]);
    } finally {
      await after.close();
    }

    // A second run has nothing to do; sealPlain then seals the record written in clear.
    expect(await rewrapConsentRecords({ client: redis, prefix, cipher })).toMatchObject({
      resealed: 0,
      unchanged: 3,
      plain: 1,
    });
    expect(
      await rewrapConsentRecords({ client: redis, prefix, cipher, sealPlain: true }),
    ).toMatchObject({ resealed: 1, unchanged: 3, plain: 0 });
    expect(await everything(prefix)).not.toContain('portal-ada@example.com');
    const sealed = storeWith(new RecordCipher(newKey));
    try {
      expect(await sealed.getConsent('ada@example.com', 'newsletter')).toMatchObject({
        source: 'portal-ada@example.com',
      });
    } finally {
      await sealed.close();
    }
  });

  it('refuses a record sealed with a master key it does not hold, and writes nothing for it', async () => {
    const other = masterKey(randomBytes(32));
    const store = storeWith(new RecordCipher(other));
    try {
      await store.grantConsent(grantOf('zoe@example.com', 'newsletter'));
    } finally {
      await store.close();
    }
    await expect(
      rewrapConsentRecords({ client: redis, prefix, cipher: new RecordCipher(newKey, [oldKey]) }),
    ).rejects.toThrow(/master key/);
    expect(await everything(prefix)).toContain(`rc1.${other.id}.`);
  });
});

describe('rewrapConsentRecords, a prefix with its own hash tag', () => {
  const prefix = `tw-consent-rewrap-{tagged-${RUN}}:`;
  prefixes.push(prefix);

  it('re-seals the records under it', async () => {
    const before = new RedisStore({
      url: URL,
      prefix,
      logger: false,
      recordCipher: new RecordCipher(oldKey),
    });
    try {
      await before.grantConsent(grantOf('lee@example.com', 'newsletter'));
    } finally {
      await before.close();
    }
    const cipher = new RecordCipher(newKey, [oldKey]);
    expect(await rewrapConsentRecords({ client: redis, prefix, cipher })).toMatchObject({
      resealed: 1,
    });
    const after = new RedisStore({
      url: URL,
      prefix,
      logger: false,
      recordCipher: new RecordCipher(newKey),
    });
    try {
      expect(await after.getConsent('lee@example.com', 'newsletter')).toMatchObject({
        evidence: 'form-10',
      });
    } finally {
      await after.close();
    }
  });
});

describe.each(['single', 'sharded'] as const)(
  'rewrapConsentRecords under hashed subject names, layout %s',
  (layout) => {
    const prefix = `tw-consent-rewrap-hashed-${layout}-${RUN}:`;
    prefixes.push(prefix);
    const nameKey = randomBytes(32);
    const storeWith = (cipher: RecordCipher, subjectNameKey?: Buffer) =>
      new RedisStore({
        url: URL,
        prefix,
        layout,
        logger: false,
        recordCipher: cipher,
        ...(subjectNameKey === undefined ? {} : { subjectNameKey }),
      });

    it('re-seals records written under hashed names and those a migration re-bound, and reads them with the new key alone', async () => {
      // One record from before the names were hashed, moved by the migration with the master key.
      const clear = storeWith(new RecordCipher(oldKey));
      try {
        await clear.grantConsent(grantOf('lee@example.com', 'newsletter'));
      } finally {
        await clear.close();
      }
      expect(
        await migrateSubjectNames({
          client: redis,
          prefix,
          layout,
          subjectNameKey: nameKey,
          recordCipher: new RecordCipher(oldKey),
          settleMs: 0,
        }),
      ).toMatchObject({ consents: 1, unreadable: 0 });
      // One record written under the hashed names.
      const hashed = storeWith(new RecordCipher(oldKey), nameKey);
      try {
        await hashed.grantConsent(grantOf('max@example.com', 'analytics'));
      } finally {
        await hashed.close();
      }
      expect(await everything(prefix)).not.toContain('@example.com');

      const cipher = new RecordCipher(newKey, [oldKey]);
      expect(await rewrapConsentRecords({ client: redis, prefix, cipher })).toEqual({
        resealed: 2,
        unchanged: 0,
        plain: 0,
        unreadable: 0,
      });
      const stored = await everything(prefix);
      expect(stored).toContain(`rc1.${newKey.id}.`);
      expect(stored).not.toContain(oldKey.id);

      const after = storeWith(new RecordCipher(newKey), nameKey);
      try {
        expect(await after.getConsent('lee@example.com', 'newsletter')).toMatchObject({
          source: 'portal-lee@example.com',
          notice: 'privacy-notice@2030-01',
        });
        expect(await after.consentRecords('max@example.com')).toMatchObject([
          { purpose: 'analytics', evidence: 'form-9' },
        ]);
      } finally {
        await after.close();
      }
    });
  },
);
