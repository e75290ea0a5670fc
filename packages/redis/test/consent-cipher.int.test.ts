import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import { masterKey, RecordCipher } from '@tokenwarden/core/internal';
import Redis from 'ioredis';
import { RedisStore } from '../src/redis-store';

const URL = 'redis://127.0.0.1:6379';
const PREFIX = `tw-consent-cipher-${process.pid}-${Date.now().toString(36)}:`;
const redis = new Redis(URL);

afterAll(async () => {
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

/** Every value stored under the prefix, as text. */
async function everything(): Promise<string> {
  const out: string[] = [];
  for (const key of await redis.keys(`${PREFIX}*`)) {
    const type = await redis.type(key);
    if (type === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
    if (type === 'string') out.push((await redis.get(key)) ?? '');
    const dump = await redis.dumpBuffer(key);
    if (dump !== null) out.push(dump.toString('latin1'));
  }
  return out.join('\n');
}

describe('RedisStore recordCipher (real Redis)', () => {
  const master = masterKey(randomBytes(32));
  const grant = {
    subject: 'lee@example.com',
    purpose: 'newsletter',
    grantedAt: Date.now(),
    source: 'privacy-portal',
    notice: 'privacy-notice@2030-01',
    evidence: 'form-submission-8841',
  };

  it('keeps source, notice and evidence encrypted and reads them back on every path', async () => {
    const store = new RedisStore({
      url: URL,
      prefix: PREFIX,
      logger: false,
      recordCipher: new RecordCipher(master),
    });
    try {
      const granted = await store.grantConsent(grant);
      expect(granted).toMatchObject({ source: 'privacy-portal', evidence: 'form-submission-8841' });
      const stored = await everything();
      for (const secret of ['privacy-portal', 'privacy-notice@2030-01', 'form-submission-8841']) {
        expect(stored).not.toContain(secret);
      }
      expect(stored).toContain(`rc1.${master.id}.`);
      expect(await store.getConsent(grant.subject, grant.purpose)).toMatchObject({
        notice: 'privacy-notice@2030-01',
        evidence: 'form-submission-8841',
      });
      expect(await store.consentRecords(grant.subject)).toMatchObject([
        { purpose: 'newsletter', source: 'privacy-portal' },
      ]);
      const withdrawn = await store.withdrawConsent({
        subject: grant.subject,
        purpose: grant.purpose,
        withdrawnAt: Date.now() + 1,
        source: 'support-ticket-12',
      });
      expect(withdrawn).toMatchObject({
        source: 'support-ticket-12',
        evidence: 'form-submission-8841',
      });
      expect(await everything()).not.toContain('support-ticket-12');
    } finally {
      await store.close();
    }
  });

  it('says so when the records are encrypted and no cipher, or the wrong master key, is given', async () => {
    const plain = new RedisStore({ url: URL, prefix: PREFIX, logger: false });
    const wrong = new RedisStore({
      url: URL,
      prefix: PREFIX,
      logger: false,
      recordCipher: new RecordCipher(masterKey(randomBytes(32))),
    });
    const rotated = new RedisStore({
      url: URL,
      prefix: PREFIX,
      logger: false,
      recordCipher: new RecordCipher(masterKey(randomBytes(32)), [master]),
    });
    try {
      await expect(plain.getConsent(grant.subject, grant.purpose)).rejects.toThrow(/recordCipher/);
      await expect(wrong.getConsent(grant.subject, grant.purpose)).rejects.toThrow(
        /not configured/,
      );
      expect(await rotated.getConsent(grant.subject, grant.purpose)).toMatchObject({
        notice: 'privacy-notice@2030-01',
      });
    } finally {
      await Promise.all([plain.close(), wrong.close(), rotated.close()]);
    }
  });
});
