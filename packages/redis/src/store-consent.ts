import { type ConsentGrant, type ConsentRecord, type ConsentWithdrawal } from '@tokenwarden/core';
import { encodeInvalidation } from './invalidation';
import type { StoreContext } from './store-context';
import { COMMANDS } from './scripts';
import { epochArg, epochMs, strings, text, unexpectedReply } from './values';

const OWNER = 'RedisStore';

/**
 * The consent records of a `RedisStore`: grants and withdrawals (one atomic script each, which
 * also announces the change on the invalidation channel) and single reads (one script, which
 * checks the epoch of the state first). The records have no TTL: they are the proof of consent.
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
      this.store.keys.of(subject).consent(subject, purpose),
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
      this.store.keys.of(subject).consent(subject, purpose),
      epochArg(withdrawal.withdrawnAt, 'withdrawnAt', OWNER),
      withdrawal.source === undefined ? '0' : '1',
      withdrawal.source === undefined ? '' : text(withdrawal.source, 'source', OWNER),
      this.store.channel,
      encodeInvalidation({ kind: 'consent', subject, purpose }),
    ];
    // A withdrawal must outlive a failover: it is replicated when the store asks for it.
    return this.store.write('withdrawConsent', COMMANDS.withdraw, args, (reply) =>
      toRecord(subject, purpose, strings(reply, 5, 'withdrawConsent')),
    );
  }

  /**
   * Reads one consent record (one script, after the epoch check), or `undefined`. Rejects with
   * `StoreStateLostError` once the state is lost.
   */
  async get(subject: string, purpose: string): Promise<ConsentRecord | undefined> {
    const checkedSubject = text(subject, 'subject', OWNER);
    const checkedPurpose = text(purpose, 'purpose', OWNER);
    const { epoch } = this.store;
    await this.store.ready();
    const keys = this.store.keys.of(checkedSubject);
    const args = [
      keys.consent(checkedSubject, checkedPurpose),
      keys.epoch(),
      this.store.now(),
      ...epoch.args(),
    ];
    const answer = await this.store.connection.run(
      'getConsent',
      (redis) => redis[COMMANDS.consentGet](...args),
      (reply) => {
        const fields = strings(reply, 8, 'getConsent');
        const lost = epoch.settle(fields[5], fields[6], fields[7], 'getConsent');
        if (lost !== undefined) return { lost, id: fields[6]!, lostAt: fields[7]! };
        if (fields[0] === '') return undefined;
        return toRecord(checkedSubject, checkedPurpose, fields.slice(0, 5));
      },
    );
    // Thrown here, not in the parser, which maps what it throws to StoreUnavailableError.
    if (answer !== undefined && 'lost' in answer) {
      if (answer.lost.reason === 'lost') await this.store.spreadLoss(answer.id, answer.lostAt);
      throw answer.lost;
    }
    return answer;
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
