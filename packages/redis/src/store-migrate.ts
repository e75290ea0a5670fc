import { ConfigError, RecordCipher, TokenwardenError, type StoreEpoch } from '@tokenwarden/core';
import type { Cluster, Redis } from 'ioredis';
import { DEFAULT_MAX_KEY_LENGTH, DEFAULT_PREFIX } from './defaults';
import { KeySpace } from './keys';
import { globEscape, liveMark, scanKeys as scan } from './scan-keys';
import { RedisStore } from './redis-store';
import { toRecord } from './store-consent';

/** Options of {@link migrateKeyLayout}. */
export interface KeyLayoutMigrationOptions {
  /**
   * The Redis (or Cluster) holding the keys; used as is, never closed. The `'sharded'` store the
   * entries are written through runs on it too.
   */
  readonly client: Redis | Cluster;
  /** Prefix of both layouts, without a hash tag. Default: `'tokenwarden:'`. */
  readonly prefix?: string;
  /** `maxKeyLength` of the stores. Default: 256. */
  readonly maxKeyLength?: number;
  /** Deadline of each store call, in ms. Default: 3000. */
  readonly commandTimeoutMs?: number;
  /**
   * Delete each old key once its entry is in force in the `'sharded'` layout. Only once no node
   * reads the `'single'` layout any more: such a node would no longer see the entry.
   * Default: `false` (the old keys are kept).
   */
  readonly deleteOld?: boolean;
  /** The time entries are judged live against, in epoch ms. Default: `Date.now()`. */
  readonly now?: number;
  /**
   * The record cipher of the stores (`RedisStore` option `recordCipher`): consent records sealed
   * in the `'single'` layout are opened with it, and every consent record is written sealed into
   * the `'sharded'` one. Without it, a sealed record stops the migration before anything is
   * written (ConfigError).
   */
  readonly recordCipher?: RecordCipher;
}

/** What {@link migrateKeyLayout} did, entry by entry. */
export interface KeyLayoutMigration {
  /** Live revoked token ids written into the `'sharded'` layout (every bucket). */
  readonly tokens: number;
  /** Live subject marks written (into the subject's bucket). */
  readonly subjects: number;
  /** Live client marks written (every bucket). */
  readonly clients: number;
  /** 1 when the deployment-wide mark was written (every bucket), else 0. */
  readonly all: number;
  /** Consent records written (into the subject's bucket). */
  readonly consents: number;
  /** Entries already in force in the `'sharded'` layout: nothing written. */
  readonly unchanged: number;
  /** Revoked ids and marks that had expired: nothing to carry over. */
  readonly expired: number;
  /**
   * Keys whose id cannot be read back (the id was longer than `maxKeyLength` allows and the key
   * holds its SHA-256): not migrated, and kept even with `deleteOld`.
   */
  readonly unreadable: number;
  /** Old keys deleted (`deleteOld`). */
  readonly deleted: number;
  /**
   * The epoch of the `'sharded'` layout after the migration, and whether the migration wrote it
   * (the `'single'` layout's epoch, copied into every bucket).
   */
  readonly epoch: StoreEpoch;
  readonly epochWritten: boolean;
}

/** Why the migration refused to start. */
export class KeyLayoutMigrationError extends TokenwardenError {
  constructor(message: string) {
    // The layout being migrated lost its state: what the store says of any read then.
    super('store_state_lost', message);
  }
}

const OLD_KINDS = ['rev:', 'nbf:sub:', 'nbf:cli:', 'nbf:all', 'consent:'] as const;
type OldKind = (typeof OLD_KINDS)[number];

/** Inverse of `encodeId`; `undefined` for a hashed (`#`) or malformed id. */
export function decodeId(encoded: string): string | undefined {
  if (encoded.startsWith('#')) return undefined;
  let out = '';
  for (let i = 0; i < encoded.length;) {
    const ch = encoded.charAt(i);
    if (ch !== '%') {
      if (!/^[A-Za-z0-9._~-]$/.test(ch)) return undefined;
      out += ch;
      i += 1;
      continue;
    }
    const wide = encoded.charAt(i + 1) === 'u';
    const hex = wide ? encoded.slice(i + 2, i + 6) : encoded.slice(i + 1, i + 3);
    if (!/^[0-9A-F]+$/.test(hex) || hex.length !== (wide ? 4 : 2)) return undefined;
    out += String.fromCharCode(parseInt(hex, 16));
    i += wide ? 6 : 3;
  }
  return out;
}

/** The fields of a hash, or an empty object for a missing key. */
async function fieldsOf(client: Redis | Cluster, key: string): Promise<Record<string, string>> {
  return client.hgetall(key);
}

/** True when every target mark hash already holds `at` (or later) until `until` (or later). */
function marksHold(
  targets: readonly Record<string, string>[],
  entry: { at: number; until: number },
  now: number,
): boolean {
  return targets.every((fields) => {
    const held = liveMark(fields, now);
    return held !== undefined && held.at >= entry.at && held.until >= entry.until;
  });
}

/** Message of the ConfigError of a migration without the cipher of sealed consent records. */
const SEALED_CONSENT =
  'the consent records are sealed with a master key (RedisStore recordCipher): give the migration its recordCipher to read them and write them sealed';

/** Throws a ConfigError when a consent record of `pattern` holds a sealed doc. */
async function refuseSealed(client: Redis | Cluster, pattern: string): Promise<void> {
  for await (const key of scan(client, pattern)) {
    const docs = await client.hmget(key, 'gdoc', 'wdoc');
    if (docs.some((doc) => doc !== null && RecordCipher.isSealed(doc))) {
      throw new ConfigError(SEALED_CONSENT);
    }
  }
}

/**
 * A consent hash as HGETALL reads it, its docs opened with `cipher` when sealed: the record's
 * fields, with the grant's and the withdrawal's own sources apart from the one the record shows.
 * A sealed doc without a cipher throws `StoreUnavailableError` (as the store's reads do).
 */
function consentOfHash(
  subject: string,
  purpose: string,
  hash: Readonly<Record<string, string>>,
  cipher: RecordCipher | undefined,
) {
  const legacy = hash['source'];
  const fields = (gdoc: string, wdoc: string, withLegacy: boolean): string[] => [
    hash['granted'] ?? '0',
    hash['expires'] ?? '',
    hash['withdrawn'] ?? '',
    hash['until'] ?? '',
    gdoc,
    wdoc,
    withLegacy && legacy !== undefined ? '1' : '0',
    withLegacy ? (legacy ?? '') : '',
  ];
  const gdoc = hash['gdoc'] ?? '';
  const wdoc = hash['wdoc'] ?? '';
  const record = toRecord(subject, purpose, fields(gdoc, wdoc, true), cipher);
  // Each doc's own source: the record read with that doc alone.
  const grantSource =
    hash['gdoc'] !== undefined
      ? toRecord(subject, purpose, fields(gdoc, '', false), cipher).source
      : legacy;
  const withdrawalSource =
    hash['wdoc'] !== undefined
      ? toRecord(subject, purpose, fields('', wdoc, false), cipher).source
      : undefined;
  return { ...record, grantSource, withdrawalSource };
}

/**
 * Moves the state of a `RedisStore` from the `'single'` layout (every key under the `{tw}` hash
 * tag) to the `'sharded'` one on the same prefix: SCANs the old layout's revoked token ids, subject,
 * client and deployment marks and consent records, and writes each through a `'sharded'` store's
 * own writes (`revokeToken`, `setNotBefore`, `grantConsent`, `withdrawConsent`), so every bucket
 * copy is written and announced as the store writes it; with `recordCipher`, consent records are
 * read and written sealed. The `'single'` layout's epoch is copied
 * into every bucket when the `'sharded'` layout has none yet.
 *
 * Idempotent: an entry already in force in the `'sharded'` layout is not written again, and a
 * write only ever moves an entry forward (the later mark, the later withdrawal), so a second run,
 * or a run after nodes started writing the `'sharded'` layout, changes nothing. The old keys are
 * kept unless `deleteOld`.
 *
 * @throws KeyLayoutMigrationError when the `'single'` layout's state is lost (restore it first).
 * @throws ConfigError for a prefix carrying its own hash tag, and for sealed consent records
 *   without `recordCipher`.
 */
export async function migrateKeyLayout(
  options: KeyLayoutMigrationOptions,
): Promise<KeyLayoutMigration> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const maxKeyLength = options.maxKeyLength ?? DEFAULT_MAX_KEY_LENGTH;
  const now = options.now ?? Date.now();
  const client = options.client;
  // Both throw ConfigError for a prefix with a tag of its own (the 'sharded' layout refuses it).
  const old = new KeySpace(prefix, maxKeyLength, 'single');
  const sharded = new KeySpace(prefix, maxKeyLength, 'sharded');
  const timeout = { commandTimeoutMs: options.commandTimeoutMs ?? 3_000 };
  const cipher = options.recordCipher;
  const sealing = cipher === undefined ? {} : { recordCipher: cipher };
  const source = new RedisStore({
    client,
    prefix,
    maxKeyLength,
    epoch: 'require',
    ...timeout,
    ...sealing,
  });
  const target = new RedisStore({
    client,
    prefix,
    maxKeyLength,
    layout: 'sharded',
    epoch: 'require',
    ...timeout,
    ...sealing,
  });
  try {
    const before = await source.readEpoch();
    if (before.status === 'lost') {
      throw new KeyLayoutMigrationError(
        `the state of the 'single' layout is lost (epoch ${before.lostId}): restore it first (tokenwarden state restore)`,
      );
    }
    const escaped = globEscape(old.base);
    // Nothing is written, not even in clear, when a sealed record could not be read.
    if (cipher === undefined) await refuseSealed(client, `${escaped}consent:*`);
    const taken = await target.takeOverEpoch(before);
    const counts = {
      tokens: 0,
      subjects: 0,
      clients: 0,
      all: 0,
      consents: 0,
      unchanged: 0,
      expired: 0,
      unreadable: 0,
      deleted: 0,
    };
    for (const kind of OLD_KINDS) {
      const pattern = kind === 'nbf:all' ? `${escaped}${kind}` : `${escaped}${kind}*`;
      for await (const key of scan(client, pattern)) {
        const outcome = await migrateOne(kind, key.slice(old.base.length + kind.length));
        counts[outcome] += 1;
        if (options.deleteOld === true && outcome !== 'unreadable') {
          counts.deleted += await client.unlink(key);
        }
      }
    }
    // The old layout's consent indexes go with the records they list (rebuilt in the new one).
    if (options.deleteOld === true) {
      for await (const key of scan(client, `${escaped}cidx:*`)) {
        counts.deleted += await client.unlink(key);
      }
    }
    return { ...counts, epoch: taken.epoch, epochWritten: taken.written };
  } finally {
    await Promise.all([source.close(), target.close()]);
  }

  type Outcome =
    'tokens' | 'subjects' | 'clients' | 'all' | 'consents' | 'unchanged' | 'expired' | 'unreadable';

  async function migrateOne(kind: OldKind, encoded: string): Promise<Outcome> {
    if (kind === 'consent:') return migrateConsent(encoded);
    const id = kind === 'nbf:all' ? '' : decodeId(encoded);
    if (id === undefined) return 'unreadable';
    const oldKey =
      kind === 'rev:'
        ? old.revoked(id)
        : kind === 'nbf:sub:'
          ? old.subjectMark(id)
          : kind === 'nbf:cli:'
            ? old.clientMark(id)
            : old.allMark();
    const entry = liveMark(await fieldsOf(client, oldKey), now);
    if (entry === undefined) return 'expired';
    const targets =
      kind === 'rev:'
        ? sharded.all().map((space) => space.revoked(id))
        : kind === 'nbf:sub:'
          ? [sharded.of(id).subjectMark(id)]
          : kind === 'nbf:cli:'
            ? sharded.all().map((space) => space.clientMark(id))
            : sharded.all().map((space) => space.allMark());
    const held = await Promise.all(targets.map((key) => fieldsOf(client, key)));
    if (marksHold(held, entry, now)) return 'unchanged';
    if (kind === 'rev:') {
      // A revoked id is kept until the token expires: 'at' and 'until' are both that time.
      await target.revokeToken(id, entry.until);
      return 'tokens';
    }
    const scope = kind === 'nbf:sub:' ? 'subject' : kind === 'nbf:cli:' ? 'client' : 'all';
    await target.setNotBefore(scope, id, entry.at, entry.until);
    return scope === 'subject' ? 'subjects' : scope === 'client' ? 'clients' : 'all';
  }

  async function migrateConsent(encoded: string): Promise<Outcome> {
    const parts = encoded.split(':');
    const subject = parts.length === 2 ? decodeId(parts[0]!) : undefined;
    const purpose = parts.length === 2 ? decodeId(parts[1]!) : undefined;
    if (subject === undefined || purpose === undefined) return 'unreadable';
    const record = await fieldsOf(client, old.consent(subject, purpose));
    if (record['granted'] === undefined) return 'expired';
    const held = await fieldsOf(client, sharded.of(subject).consent(subject, purpose));
    const granted = Number(record['granted']);
    const withdrawn = Number(record['withdrawn'] ?? '0');
    const heldGranted = held['granted'] === undefined ? -1 : Number(held['granted']);
    const heldWithdrawn = Number(held['withdrawn'] ?? '0');
    // A grant is carried over unless the 'sharded' layout holds this one or a later one.
    const grant = granted > 0 && granted > heldGranted;
    const withdraw = withdrawn > heldWithdrawn;
    if (!grant && !withdraw) return 'unchanged';
    const read = consentOfHash(subject, purpose, record, cipher);
    if (grant) {
      await target.grantConsent({
        subject,
        purpose,
        grantedAt: granted,
        ...(read.expiresAt === undefined ? {} : { expiresAt: read.expiresAt }),
        ...(read.grantSource === undefined ? {} : { source: read.grantSource }),
        ...(read.notice === undefined ? {} : { notice: read.notice }),
        ...(read.evidence === undefined ? {} : { evidence: read.evidence }),
      });
    }
    if (withdraw) {
      // The withdrawal's own source goes with it. A record from before withdrawals kept their
      // own source has one source: after a grant above it stays, and the withdrawal carries it
      // only into a record it creates (never over a later grant's source).
      const creates = !grant && held['granted'] === undefined;
      const source = read.withdrawalSource ?? (creates ? read.source : undefined);
      await target.withdrawConsent({
        subject,
        purpose,
        withdrawnAt: withdrawn,
        ...(read.keepUntil === undefined ? {} : { keepUntil: read.keepUntil }),
        ...(source !== undefined ? { source } : {}),
      });
    }
    return 'consents';
  }
}
