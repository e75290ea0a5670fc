import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError, RecordCipher, StoreUnavailableError } from '@tokenwarden/core';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX } from './defaults';
import { KeySpace } from './keys';
import { globEscape as escape, liveMark, scanKeys as scan } from './scan-keys';
import { CONSENT_READ } from './scripts/consent';
import { RAISE_LUA } from './scripts/store';
import { consentDocContext, decodeId } from './store-consent';
import { NAMING_RECHECK_MS, namingMismatch } from './store-naming';
import {
  CLEAR_NAMES,
  HASHED_NAME_MARK,
  SubjectNames,
  checkedSubjectNameKey,
} from './subject-names';

/** Options of {@link migrateSubjectNames}. */
export interface SubjectNameMigrationOptions {
  /** The Redis (or Cluster) holding the keys; used as is, never closed. */
  readonly client: Redis | Cluster;
  /** `prefix` of the stores. Default: `'tokenwarden:'`. */
  readonly prefix?: string;
  /** `layout` of the stores. Default: `'single'`. */
  readonly layout?: 'single' | 'sharded';
  /** `maxKeyLength` of the stores. Default: 256. */
  readonly maxKeyLength?: number;
  /** The `subjectNameKey` every node will have (32 bytes). */
  readonly subjectNameKey: Buffer;
  /** Longest wait for the client's connection, in ms. Default: 5000. */
  readonly connectTimeoutMs?: number;
  /** The time marks are judged live against, in epoch ms. Default: `Date.now()`. */
  readonly now?: number;
  /**
   * How long to wait, in ms, between recording the hashed naming and the last copy, so that every
   * store still running with names in clear has checked the record again and refuses. Default:
   * the stores' re-check interval plus one second (6 s).
   */
  readonly settleMs?: number;
  /**
   * The nodes' record cipher (the master key): sealed consent docs are re-bound to the hashed
   * name as they are copied, so `keys rewrap` can re-seal them later. Without it they are copied
   * as they are: still readable by the stores, but `keys rewrap` cannot re-seal them.
   */
  readonly recordCipher?: RecordCipher;
}

/** What {@link migrateSubjectNames} did. */
export interface SubjectNameMigration {
  /** Live subject marks written under their hashed names (both copies counted). */
  readonly marks: number;
  /** Consent records written under their hashed names (both copies counted). */
  readonly consents: number;
  /** Entries already in force under their hashed names: nothing written. */
  readonly unchanged: number;
  /** Marks that had expired: nothing to carry over. */
  readonly expired: number;
  /**
   * Keys whose subject cannot be read back (an id longer than `maxKeyLength` allows, stored as
   * `#` and its SHA-256): not migrated, and kept.
   */
  readonly unreadable: number;
  /** Keys named in clear deleted once the hashed naming was recorded. */
  readonly deleted: number;
  /** Whether this run recorded the hashed naming (`false`: an earlier run had). */
  readonly recorded: boolean;
}

/** Writes one consent record under its hashed name, as it is, and puts it in the subject's index. */
const COPY_CONSENT_LUA = `${CONSENT_READ}
-- KEYS: 1 the record under its hashed name, 2 the subject's hashed index.
-- ARGV: 1 now, then the record's fields and values.
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
local keep = redis.call('HGET', KEYS[1], 'until')
if keep then
  redis.call('PEXPIREAT', KEYS[1], keep)
end
redis.call('SADD', KEYS[2], KEYS[1])
consent_reindex(KEYS[2], tonumber(ARGV[1]))
return 1
`;

/** Records the hashed naming unless another one is; answers what was recorded before. */
const RECORD_NAMING_LUA = `
local recorded = redis.call('HGET', KEYS[1], 'subjects')
if not recorded or recorded == '${CLEAR_NAMES}' then
  redis.call('HSET', KEYS[1], 'subjects', ARGV[1])
end
return recorded or ''
`;

type Counts = { -readonly [K in keyof SubjectNameMigration]: SubjectNameMigration[K] };

/**
 * Moves the subject-named keys of a `RedisStore` (not-before marks of subjects, consent records and
 * consent indexes) from names in clear to the names of a `subjectNameKey`, on the same prefix and
 * layout: copies each live mark (forward only: the later `at` and `until` win) and each consent
 * record (as it is, with its expiry; one already under its hashed name is replaced only by a
 * later grant or withdrawal), records the hashed naming (from then on stores without the key
 * refuse, stores with it serve), waits `settleMs` for running stores to see the record, copies
 * again what they wrote meanwhile, then deletes the keys named in clear. Idempotent: a second run
 * finds nothing to copy.
 *
 * @throws ConfigError when Redis records another `subjectNameKey`, or for invalid options.
 */
export async function migrateSubjectNames(
  options: SubjectNameMigrationOptions,
): Promise<SubjectNameMigration> {
  const key = checkedSubjectNameKey(options.subjectNameKey);
  if (key === undefined) {
    throw new ConfigError("migrateSubjectNames needs the 'subjectNameKey' to move the keys to");
  }
  const names = new SubjectNames(key);
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const maxKeyLength = options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH;
  const layout = options.layout ?? 'single';
  const clear = new KeySpace(prefix, maxKeyLength, layout);
  const hashed = new KeySpace(prefix, maxKeyLength, layout, names);
  const client = options.client;
  const now = options.now ?? Date.now();
  const record = clear.all()[0]!.namingRecord();
  await connected(client, options.connectTimeoutMs ?? 5_000);
  const before = await client.hget(record, 'subjects');
  if (before !== null && before !== CLEAR_NAMES && before !== names.tag) {
    throw namingMismatch(before, names.tag);
  }
  const counts: Counts = {
    marks: 0,
    consents: 0,
    unchanged: 0,
    expired: 0,
    unreadable: 0,
    deleted: 0,
    recorded: false,
  };
  const copy = async (): Promise<void> => {
    counts.unreadable = 0;
    for (const space of clear.all()) {
      const base = escape(space.base);
      for await (const found of scan(client, `${base}nbf:sub:*`)) {
        const name = found.slice(space.base.length + 'nbf:sub:'.length);
        if (name.startsWith(HASHED_NAME_MARK)) continue;
        const subject = decodeId(name);
        if (subject === undefined) counts.unreadable += 1;
        else counts[await copyMark(found, subject)] += 1;
      }
      for await (const found of scan(client, `${base}consent:*`)) {
        const name = found.slice(space.base.length + 'consent:'.length);
        if (name.startsWith(HASHED_NAME_MARK)) continue;
        const [subjectName, purposeName, ...rest] = name.split(':');
        const subject = decodeId(subjectName!);
        const purpose = purposeName === undefined ? undefined : decodeId(purposeName);
        if (subject === undefined || purpose === undefined || rest.length > 0) {
          counts.unreadable += 1;
        } else counts[await copyConsent(found, subject, purpose)] += 1;
      }
    }
  };

  async function copyMark(
    from: string,
    subject: string,
  ): Promise<'marks' | 'unchanged' | 'expired'> {
    const entry = liveMark(await client.hgetall(from), now);
    if (entry === undefined) return 'expired';
    const to = hashed.subject(subject).mark;
    const held = liveMark(await client.hgetall(to), now);
    if (held !== undefined && held.at >= entry.at && held.until >= entry.until) return 'unchanged';
    await client.eval(RAISE_LUA, 1, to, entry.at, entry.until, String(now), '', '');
    return 'marks';
  }

  async function copyConsent(
    from: string,
    subject: string,
    purpose: string,
  ): Promise<'consents' | 'unchanged' | 'expired'> {
    const fields = await client.hgetall(from);
    if (fields['granted'] === undefined) return 'expired';
    const keys = hashed.subject(subject);
    const to = keys.consent(purpose);
    const held = await client.hgetall(to);
    if (held['granted'] !== undefined) {
      const later =
        Number(fields['granted']) > Number(held['granted']) ||
        Number(fields['withdrawn'] ?? '0') > Number(held['withdrawn'] ?? '0');
      if (!later) return 'unchanged';
    }
    const rebound: Record<string, string> = { ...fields, purpose };
    const cipher = options.recordCipher;
    for (const field of ['gdoc', 'wdoc'] as const) {
      const doc = rebound[field];
      if (cipher === undefined || doc === undefined || !RecordCipher.isSealed(doc)) continue;
      const json = cipher.open(doc, consentDocContext(subject, purpose, undefined));
      rebound[field] = cipher.seal(json, consentDocContext(subject, purpose, keys.hashedName));
    }
    const pairs = Object.entries(rebound).flat();
    await client.eval(COPY_CONSENT_LUA, 2, to, keys.index, String(now), ...pairs);
    return 'consents';
  }

  await copy();
  counts.recorded = (await client.eval(RECORD_NAMING_LUA, 1, record, names.tag)) !== names.tag;
  if (counts.recorded) await sleep(options.settleMs ?? NAMING_RECHECK_MS + 1_000);
  await copy();
  // Deleted once no store can read them: the keys that named each person.
  for (const space of clear.all()) {
    const base = escape(space.base);
    for (const kind of ['nbf:sub:', 'consent:', 'cidx:']) {
      for await (const found of scan(client, `${base}${kind}*`)) {
        const name = found.slice(space.base.length + kind.length);
        if (name.startsWith(HASHED_NAME_MARK) || name.startsWith('#')) continue;
        counts.deleted += await client.unlink(found);
      }
    }
  }
  return counts;
}

/** Resolves once `client` is ready (a client without an offline queue refuses commands before). */
async function connected(client: Redis | Cluster, ms: number): Promise<void> {
  if (client.status === 'ready') return;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off('ready', ready);
      reject(new StoreUnavailableError(`Redis was not ready within ${ms} ms`));
    }, ms);
    const ready = () => {
      clearTimeout(timer);
      resolve();
    };
    client.once('ready', ready);
  });
}
