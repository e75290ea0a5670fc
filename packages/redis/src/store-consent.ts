import type { ConsentGrant, ConsentRecord, ConsentWithdrawal } from '@tokenwarden/core';
import { encodeInvalidation } from './invalidation';
import type { StoreContext } from './redis-store';
import { COMMANDS } from './scripts';
import { epochArg, epochMs, strings, text, unexpectedReply } from './values';

const OWNER = 'RedisStore';

/**
 * The consent records of a `RedisStore`: grants and withdrawals (one atomic script each, which
 * also announces the change on the invalidation channel) and single reads (one HMGET). The
 * records have no TTL: they are the proof of consent.
 *
 * @internal
 */
export class ConsentRecords {
  constructor(private readonly store: StoreContext) {}

  /** Records a grant; the last withdrawal time is kept. */
  async grant(grant: ConsentGrant): Promise<ConsentRecord> {
    const subject = text(grant.subject, 'subject', OWNER);
    const purpose = text(grant.purpose, 'purpose', OWNER);
    const args = [
      this.store.keys.consent(subject, purpose),
      epochArg(grant.grantedAt, 'grantedAt', OWNER),
      grant.expiresAt === undefined ? '0' : '1',
      grant.expiresAt === undefined ? '' : epochArg(grant.expiresAt, 'expiresAt', OWNER),
      grant.source === undefined ? '0' : '1',
      grant.source === undefined ? '' : text(grant.source, 'source', OWNER),
      this.store.channel,
      encodeInvalidation({ kind: 'consent', subject, purpose }),
    ];
    return this.store.connection.run(
      'grantConsent',
      (redis) => redis[COMMANDS.grant](...args),
      (reply) => toRecord(subject, purpose, strings(reply, 5, 'grantConsent')),
    );
  }

  /** Records a withdrawal, with `grantedAt` 0 when there was no grant. */
  async withdraw(withdrawal: ConsentWithdrawal): Promise<ConsentRecord> {
    const subject = text(withdrawal.subject, 'subject', OWNER);
    const purpose = text(withdrawal.purpose, 'purpose', OWNER);
    const args = [
      this.store.keys.consent(subject, purpose),
      epochArg(withdrawal.withdrawnAt, 'withdrawnAt', OWNER),
      withdrawal.source === undefined ? '0' : '1',
      withdrawal.source === undefined ? '' : text(withdrawal.source, 'source', OWNER),
      this.store.channel,
      encodeInvalidation({ kind: 'consent', subject, purpose }),
    ];
    return this.store.connection.run(
      'withdrawConsent',
      (redis) => redis[COMMANDS.withdraw](...args),
      (reply) => toRecord(subject, purpose, strings(reply, 5, 'withdrawConsent')),
    );
  }

  /** Reads one consent record (one HMGET), or `undefined`. */
  async get(subject: string, purpose: string): Promise<ConsentRecord | undefined> {
    const checkedSubject = text(subject, 'subject', OWNER);
    const checkedPurpose = text(purpose, 'purpose', OWNER);
    const key = this.store.keys.consent(checkedSubject, checkedPurpose);
    return this.store.connection.run(
      'getConsent',
      (redis) => redis.hmget(key, 'granted', 'expires', 'withdrawn', 'source'),
      (reply) => {
        if (!Array.isArray(reply) || reply.length !== 4) throw unexpectedReply('getConsent');
        const [granted, expires, withdrawn, source] = reply.map((v: unknown) => {
          if (v === null) return undefined;
          if (typeof v !== 'string') throw unexpectedReply('getConsent');
          return v;
        });
        if (granted === undefined) return undefined;
        return toRecord(checkedSubject, checkedPurpose, [
          granted,
          expires ?? '',
          withdrawn ?? '',
          source === undefined ? '0' : '1',
          source ?? '',
        ]);
      },
    );
  }
}

/**
 * Builds a record from the scripts' five strings (granted, expires, withdrawn, hasSource, source);
 * absent fields get no key at all.
 */
export function toRecord(
  subject: string,
  purpose: string,
  fields: readonly string[],
): ConsentRecord {
  const [granted, expires, withdrawn, hasSource, source] = fields;
  if (fields.length !== 5 || (hasSource !== '0' && hasSource !== '1')) {
    throw unexpectedReply('consent');
  }
  return {
    subject,
    purpose,
    grantedAt: epochMs(granted, 'consent'),
    ...(expires === '' ? {} : { expiresAt: epochMs(expires, 'consent') }),
    ...(withdrawn === '' ? {} : { withdrawnAt: epochMs(withdrawn, 'consent') }),
    ...(hasSource === '1' ? { source: source ?? '' } : {}),
  };
}
