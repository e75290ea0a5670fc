import type { StoreQuery, StoreSnapshot } from '@tokenwarden/core/internal';
import { COMMANDS } from './scripts';
import { RECORD_STRINGS, toRecord, type ConsentRecords } from './store-consent';
import type { StoreContext } from './store-context';
import type { ShardedEpoch } from './store-shards';
import { epochMs, strings, text } from './values';

const OWNER = 'RedisStore';

/**
 * The request path of a `RedisStore`: one script reads, after the epoch check, the revoked id,
 * the three not-before marks and the asked-for consent record, all in the key space (bucket) of
 * the token's subject. A consent record of another subject in another bucket is read by a second
 * script sent at the same time.
 *
 * @internal
 */
export class StoreLookup {
  constructor(
    private readonly store: StoreContext,
    private readonly consent: ConsentRecords,
    private readonly shards: ShardedEpoch | undefined,
  ) {}

  /** See `RedisStore.lookup`. Rejects with `StoreStateLostError` once the state is lost. */
  async lookup(query: StoreQuery): Promise<StoreSnapshot> {
    const tokenId = text(query.tokenId, 'tokenId', OWNER);
    const subject = text(query.subject, 'subject', OWNER);
    const client = query.client === undefined ? undefined : text(query.client, 'client', OWNER);
    const consent =
      query.consent === undefined
        ? undefined
        : {
            subject: text(query.consent.subject, 'consent.subject', OWNER),
            purpose: text(query.consent.purpose, 'consent.purpose', OWNER),
          };
    const naming = this.store.naming.verify();
    if (naming !== undefined) await naming;
    if (this.shards !== undefined) await this.shards.join();
    const { keys, epoch } = this.store;
    // The subject's keys, its name computed once (one HMAC with a subjectNameKey), in its bucket
    // ('sharded') or the one key space ('single'): one slot either way.
    const own = keys.subject(subject);
    const space = own.space;
    const other =
      consent === undefined || consent.subject === subject ? own : keys.subject(consent.subject);
    // A consent record of another data subject in another bucket is read by a second script,
    // sent at the same time (two slots cannot be read by one script on a Cluster).
    const apart = consent !== undefined && other.space !== space ? consent : undefined;
    const together = apart === undefined ? consent : undefined;
    const separate =
      apart === undefined ? undefined : this.consent.get(apart.subject, apart.purpose);
    // Settled here too, so a failed lookup leaves no unhandled rejection behind.
    separate?.catch(() => undefined);
    const all = space.allMark();
    const args = [
      space.revoked(tokenId),
      own.mark,
      client === undefined ? all : space.clientMark(client),
      all,
      together === undefined ? all : other.consent(together.purpose),
      space.epoch(),
      this.store.now(),
      client === undefined ? '0' : '1',
      together === undefined ? '0' : '1',
      ...epoch.args(),
    ];
    const answer = await this.store.connection.run(
      'lookup',
      (redis) => redis[COMMANDS.lookup](...args),
      (reply) => {
        const at = 4 + RECORD_STRINGS;
        const fields = strings(reply, at + 3, 'lookup');
        const lost = epoch.settle(fields[at], fields[at + 1], fields[at + 2], 'lookup');
        if (lost !== undefined) return { lost, id: fields[at + 1]!, lostAt: fields[at + 2]! };
        const [revokedUntil, subjectAt, clientAt, allAt] = fields;
        if (revokedUntil !== '') epochMs(revokedUntil, 'lookup');
        const notBefore: { subject?: number; client?: number; all?: number } = {};
        if (subjectAt !== '') notBefore.subject = epochMs(subjectAt, 'lookup');
        if (clientAt !== '') notBefore.client = epochMs(clientAt, 'lookup');
        if (allAt !== '') notBefore.all = epochMs(allAt, 'lookup');
        const snapshot: StoreSnapshot = { tokenRevoked: revokedUntil !== '', notBefore };
        if (together === undefined || fields[4] === '') return snapshot;
        return {
          ...snapshot,
          consent: toRecord(
            together.subject,
            together.purpose,
            fields.slice(4, at),
            this.store.cipher,
            other.hashedName,
          ),
        };
      },
    );
    // Thrown here, not in the parser, which maps what it throws to StoreUnavailableError.
    if ('lost' in answer) {
      if (this.shards !== undefined && answer.lost.reason === 'lost') {
        await this.shards.spreadLoss(answer.id, answer.lostAt);
      }
      throw answer.lost;
    }
    if (separate === undefined) return answer;
    const record = await separate;
    return record === undefined ? answer : { ...answer, consent: record };
  }
}
