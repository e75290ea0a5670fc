import type { RecordCipher } from '@tokenwarden/core/internal';
import { decodeConsentDoc, readDoc, storedDoc } from './consent-doc';
import {
  DEFAULT_CONSENT_RETENTION_MS,
  type ConsentGrant,
  type ConsentRecord,
  type ConsentWithdrawal,
} from '@tokenwarden/core';
import { encodeInvalidation } from './invalidation';
import type { ScanNode, StoreContext } from './store-context';
import { globEscape } from './scan-keys';
import { COMMANDS } from './scripts';
import { epochArg, epochMs, strings, text, unexpectedReply } from './values';

export { consentDocContext, decodeConsentDoc, encodeConsentDoc } from './consent-doc';

const OWNER = 'RedisStore';

/** Strings per record in the scripts' replies (see `scripts/consent.ts`). */
export const RECORD_STRINGS = 8;

/**
 * The consent records of a `RedisStore`: grants and withdrawals (one atomic script each, which
 * also announces the change on the invalidation channel), single reads (one script, which checks
 * the epoch of the state first), and listing and erasure per data subject through the subject's
 * index set. A withdrawn record is deleted at the end of its retention (PEXPIREAT at `until`).
 *
 * @internal
 */
export class ConsentRecords {
  constructor(
    private readonly store: StoreContext,
    /** Retention of a withdrawn record when the withdrawal names no `keepUntil`, in ms. */
    private readonly retentionMs: number = DEFAULT_CONSENT_RETENTION_MS,
  ) {}

  /** Records a grant; the last withdrawal time is kept. */
  async grant(grant: ConsentGrant): Promise<ConsentRecord> {
    const subject = text(grant.subject, 'subject', OWNER);
    const purpose = text(grant.purpose, 'purpose', OWNER);
    const keys = this.store.keys.subject(subject);
    const args = [
      keys.consent(purpose),
      keys.index,
      epochArg(grant.grantedAt, 'grantedAt', OWNER),
      grant.expiresAt === undefined ? '0' : '1',
      grant.expiresAt === undefined ? '' : epochArg(grant.expiresAt, 'expiresAt', OWNER),
      purpose,
      storedDoc(this.store, subject, purpose, keys.hashedName, {
        source: optionalText(grant.source, 'source'),
        notice: optionalText(grant.notice, 'notice'),
        evidence: optionalText(grant.evidence, 'evidence'),
      }),
      this.store.now(),
      this.store.channel,
      encodeInvalidation({ kind: 'consent', subject, purpose }),
    ];
    return this.store.connection.run(
      'grantConsent',
      (redis) => redis[COMMANDS.grant](...args),
      (reply) =>
        toRecord(
          subject,
          purpose,
          strings(reply, RECORD_STRINGS, 'grantConsent'),
          this.store.cipher,
          keys.hashedName,
        ),
    );
  }

  /** Records a withdrawal, with `grantedAt` 0 when there was no grant. */
  async withdraw(withdrawal: ConsentWithdrawal): Promise<ConsentRecord> {
    const subject = text(withdrawal.subject, 'subject', OWNER);
    const purpose = text(withdrawal.purpose, 'purpose', OWNER);
    const withdrawnAt = epochArg(withdrawal.withdrawnAt, 'withdrawnAt', OWNER);
    const keepUntil =
      withdrawal.keepUntil === undefined
        ? String(withdrawal.withdrawnAt + this.retentionMs)
        : epochArg(withdrawal.keepUntil, 'keepUntil', OWNER);
    const source = optionalText(withdrawal.source, 'source');
    const keys = this.store.keys.subject(subject);
    const args = [
      keys.consent(purpose),
      keys.index,
      withdrawnAt,
      keepUntil,
      purpose,
      source === undefined ? '0' : '1',
      source === undefined
        ? ''
        : storedDoc(this.store, subject, purpose, keys.hashedName, { source }),
      this.store.now(),
      this.store.channel,
      encodeInvalidation({ kind: 'consent', subject, purpose }),
    ];
    // A withdrawal must outlive a failover: it is replicated when the store asks for it.
    return this.store.write('withdrawConsent', COMMANDS.withdraw, args, (reply) =>
      toRecord(
        subject,
        purpose,
        strings(reply, RECORD_STRINGS, 'withdrawConsent'),
        this.store.cipher,
        keys.hashedName,
      ),
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
    const keys = this.store.keys.subject(checkedSubject);
    const args = [
      keys.consent(checkedPurpose),
      keys.space.epoch(),
      this.store.now(),
      ...epoch.args(),
    ];
    const answer = await this.store.connection.run(
      'getConsent',
      (redis) => redis[COMMANDS.consentGet](...args),
      (reply) => {
        const fields = strings(reply, RECORD_STRINGS + 3, 'getConsent');
        const at = RECORD_STRINGS;
        const lost = epoch.settle(fields[at], fields[at + 1], fields[at + 2], 'getConsent');
        if (lost !== undefined) return { lost, id: fields[at + 1]!, lostAt: fields[at + 2]! };
        if (fields[0] === '') return undefined;
        return toRecord(
          checkedSubject,
          checkedPurpose,
          fields.slice(0, RECORD_STRINGS),
          this.store.cipher,
          keys.hashedName,
        );
      },
    );
    // Thrown here, not in the parser, which maps what it throws to StoreUnavailableError.
    if (answer !== undefined && 'lost' in answer) {
      if (answer.lost.reason === 'lost') await this.store.spreadLoss(answer.id, answer.lostAt);
      throw answer.lost;
    }
    return answer;
  }

  /**
   * Puts the subject's records written before the index existed (no `purpose` field, not in the
   * index) into its index: a SCAN of the subject's consent keys on each master. Records of a
   * subject whose keys are hashed (ids beyond `maxKeyLength`) cannot be matched. Records under
   * hashed names (`subjectNameKey`) were always indexed: no SCAN.
   */
  private async adoptUnindexed(subject: string): Promise<void> {
    if (this.store.keys.naming.hashed) return;
    const keys = this.store.keys.subject(subject);
    const prefix = keys.consent('');
    if (!prefix.endsWith(':')) return;
    const index = keys.index;
    const pattern = `${globEscape(prefix)}*`;
    const nodes = await this.store.connection.run('consent scan', async (redis) =>
      redis.nodes !== undefined ? redis.nodes('master') : [redis as unknown as ScanNode],
    );
    for (const node of nodes) {
      let cursor = '0';
      do {
        const [next, keys] = await this.store.connection.run('consent scan', () =>
          node.scan(cursor, 'MATCH', pattern, 'COUNT', 1000),
        );
        cursor = next;
        for (const key of keys) {
          const purpose = decodeId(key.slice(prefix.length));
          if (purpose === undefined) continue;
          await this.store.connection.run('consent scan', async () => {
            await node.hset(key, 'purpose', purpose);
            await node.sadd(index, key);
          });
        }
      } while (cursor !== '0');
    }
  }

  /** Every live record of one data subject, sorted by purpose (one script). */
  async list(subject: string): Promise<readonly ConsentRecord[]> {
    const checked = text(subject, 'subject', OWNER);
    await this.adoptUnindexed(checked);
    const { index, hashedName } = this.store.keys.subject(checked);
    const now = this.store.now();
    return this.store.connection.run(
      'consentRecords',
      (redis) => redis[COMMANDS.consentList](index, now),
      (reply) => {
        const per = RECORD_STRINGS + 1;
        if (!Array.isArray(reply) || reply.length % per !== 0) {
          throw unexpectedReply('consentRecords');
        }
        const fields = strings(reply, reply.length, 'consentRecords');
        const records: ConsentRecord[] = [];
        for (let i = 0; i < fields.length; i += per) {
          records.push(
            toRecord(
              checked,
              fields[i]!,
              fields.slice(i + 1, i + per),
              this.store.cipher,
              hashedName,
            ),
          );
        }
        return records.sort(byPurpose);
      },
    );
  }

  /** Deletes every record of one data subject; answers the purposes of the live ones, sorted. */
  async erase(subject: string): Promise<readonly string[]> {
    const checked = text(subject, 'subject', OWNER);
    await this.adoptUnindexed(checked);
    const index = this.store.keys.subject(checked).index;
    // The subject's consent messages, but for the purpose the script appends to each.
    const message = encodeInvalidation({ kind: 'consent', subject: checked, purpose: '' });
    const start = message.slice(0, message.lastIndexOf(','));
    const args = [index, this.store.now(), this.store.channel, start];
    return this.store.connection.run(
      'eraseConsent',
      (redis) => redis[COMMANDS.consentErase](...args),
      (reply) => {
        if (!Array.isArray(reply)) throw unexpectedReply('eraseConsent');
        return strings(reply, reply.length, 'eraseConsent').sort();
      },
    );
  }
}

/**
 * Builds a record from the scripts' eight strings (granted, expires, withdrawn, until, gdoc,
 * wdoc, hasLegacySource, legacySource); absent fields get no key at all. The source is the last
 * withdrawal's, else the grant's, else one written before `gdoc`/`wdoc` existed.
 */
export function toRecord(
  subject: string,
  purpose: string,
  fields: readonly string[],
  cipher?: RecordCipher,
  hashedName?: string,
): ConsentRecord {
  const [granted, expires, withdrawn, until, gdoc, wdoc, hasLegacy, legacy] = fields;
  if (fields.length !== RECORD_STRINGS || (hasLegacy !== '0' && hasLegacy !== '1')) {
    throw unexpectedReply('consent');
  }
  const grant = gdoc === '' ? {} : readDoc(gdoc!, subject, purpose, cipher, hashedName);
  const withdrawal = wdoc === '' ? {} : readDoc(wdoc!, subject, purpose, cipher, hashedName);
  const source = withdrawal.source ?? grant.source ?? (hasLegacy === '1' ? legacy : undefined);
  return {
    subject,
    purpose,
    grantedAt: epochMs(granted, 'consent'),
    ...(expires === '' ? {} : { expiresAt: epochMs(expires, 'consent') }),
    ...(withdrawn === '' ? {} : { withdrawnAt: epochMs(withdrawn, 'consent') }),
    ...(source === undefined ? {} : { source }),
    ...(grant.notice === undefined ? {} : { notice: grant.notice }),
    ...(grant.evidence === undefined ? {} : { evidence: grant.evidence }),
    ...(until === '' ? {} : { keepUntil: epochMs(until, 'consent') }),
  };
}

/**
 * A consent hash as HGETALL reads it (state migration): the record's fields, with the grant's own
 * source apart from the one the record shows.
 */
export function consentFromFields(
  subject: string,
  purpose: string,
  hash: Readonly<Record<string, string>>,
): ConsentRecord & { readonly grantSource?: string; readonly withdrawalSource?: string } {
  const legacy = hash['source'];
  const record = toRecord(subject, purpose, [
    hash['granted'] ?? '0',
    hash['expires'] ?? '',
    hash['withdrawn'] ?? '',
    hash['until'] ?? '',
    hash['gdoc'] ?? '',
    hash['wdoc'] ?? '',
    legacy === undefined ? '0' : '1',
    legacy ?? '',
  ]);
  const grantSource = hash['gdoc'] !== undefined ? decodeConsentDoc(hash['gdoc']).source : legacy;
  const withdrawalSource =
    hash['wdoc'] !== undefined ? decodeConsentDoc(hash['wdoc']).source : undefined;
  return {
    ...record,
    ...(grantSource === undefined ? {} : { grantSource }),
    ...(withdrawalSource === undefined ? {} : { withdrawalSource }),
  };
}

/**
 * The id {@link encodeId} encoded, or `undefined` for anything it cannot have written.
 * @internal
 */
export function decodeId(encoded: string): string | undefined {
  let out = '';
  for (let i = 0; i < encoded.length;) {
    if (encoded[i] !== '%') {
      if (!/[A-Za-z0-9._~-]/.test(encoded[i]!)) return undefined;
      out += encoded[i];
      i += 1;
    } else if (encoded[i + 1] === 'u' && /^[0-9A-F]{4}$/.test(encoded.slice(i + 2, i + 6))) {
      out += String.fromCharCode(parseInt(encoded.slice(i + 2, i + 6), 16));
      i += 6;
    } else if (/^[0-9A-F]{2}$/.test(encoded.slice(i + 1, i + 3))) {
      out += String.fromCharCode(parseInt(encoded.slice(i + 1, i + 3), 16));
      i += 3;
    } else return undefined;
  }
  return encoded === '' ? undefined : out;
}

function optionalText(value: unknown, name: string): string | undefined {
  return value === undefined ? undefined : text(value, name, OWNER);
}

function byPurpose(a: ConsentRecord, b: ConsentRecord): number {
  return a.purpose < b.purpose ? -1 : a.purpose > b.purpose ? 1 : 0;
}
