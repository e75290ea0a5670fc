import type { ApiKeyRecord, ApiKeyRotation } from '@tokenwarden/core';
import { field, hexHash, OWNER, scopesOf, type CredentialSpace } from './credential-space';
import { COMMANDS } from './scripts';
import { epochArg, epochMs, fieldMap, text, unexpectedReply } from './values';

/** Most keys one `touchApiKeys` script updates: batches keep each script short. */
const TOUCH_BATCH = 500;

/**
 * The API-key half of a `RedisCredentialStore`: one record per key (`ak:<id>`, only the key's
 * hash, never the key), found by hash through `akh:<sha256>` and listed through `akidx`. Each
 * call is one atomic script.
 *
 * @internal
 */
export class ApiKeyRecords {
  constructor(private readonly space: CredentialSpace) {}

  /** Stores a new record; false when its id or hash is taken. */
  async create(record: ApiKeyRecord): Promise<boolean> {
    const { space } = this;
    const gone = space.goneArg(record.expiresAt);
    const args = [
      space.key('ak:', text(record.keyId, 'keyId', OWNER)),
      space.hashKey('akh:', record.hash),
      space.fixedKey('akidx'),
      space.nowArg(),
      gone,
      ...keyFields(record),
    ];
    return space.connection.run(
      'createApiKey',
      (redis) => redis[COMMANDS.apiKeyCreate](...args),
      (reply) => reply === 1,
    );
  }

  /** The record of a key hash, while kept. */
  async find(hash: string): Promise<ApiKeyRecord | undefined> {
    const args = [this.space.hashKey('akh:', hash), this.space.nowArg()];
    return this.space.connection.run(
      'findApiKey',
      (redis) => redis[COMMANDS.apiKeyFind](...args),
      optionalKey,
    );
  }

  /** The record of a key id, while kept. */
  async get(keyId: string): Promise<ApiKeyRecord | undefined> {
    const args = [this.space.key('ak:', text(keyId, 'keyId', OWNER)), this.space.nowArg()];
    return this.space.connection.run(
      'getApiKey',
      (redis) => redis[COMMANDS.apiKeyGet](...args),
      optionalKey,
    );
  }

  /** Every kept record, oldest first. */
  async list(): Promise<ApiKeyRecord[]> {
    const args = [this.space.fixedKey('akidx'), this.space.nowArg()];
    return this.space.connection.run(
      'listApiKeys',
      (redis) => redis[COMMANDS.apiKeyList](...args),
      (reply) => {
        if (!Array.isArray(reply)) throw unexpectedReply('listApiKeys');
        return reply
          .map((fields: unknown) => toKey(fieldMap(fields, 'listApiKeys')))
          .sort((a, b) => a.createdAt - b.createdAt || (a.keyId < b.keyId ? -1 : 1));
      },
    );
  }

  /** Replaces `keyId` by `next`; the old key stays valid until `overlapEndsAt`. */
  async rotate(
    keyId: string,
    next: ApiKeyRecord,
    overlapEndsAt: number,
    now: number,
  ): Promise<ApiKeyRotation> {
    const { space } = this;
    const args = [
      space.key('ak:', text(keyId, 'keyId', OWNER)),
      space.key('ak:', text(next.keyId, 'next.keyId', OWNER)),
      space.hashKey('akh:', next.hash),
      space.fixedKey('akidx'),
      epochArg(now, 'now', OWNER),
      epochArg(overlapEndsAt, 'overlapEndsAt', OWNER),
      String(space.retentionMs),
      keyId,
      space.goneArg(next.expiresAt),
      ...keyFields(next),
    ];
    return space.connection.run(
      'rotateApiKey',
      (redis) => redis[COMMANDS.apiKeyRotate](...args),
      (reply) => {
        if (!Array.isArray(reply) || typeof reply[0] !== 'string') {
          throw unexpectedReply('rotateApiKey');
        }
        const status = reply[0];
        if (status === 'rotated') {
          return { status, previous: toKey(fieldMap(reply.slice(1), 'rotateApiKey')) };
        }
        if (
          status === 'not_found' ||
          status === 'revoked' ||
          status === 'expired' ||
          status === 'replaced'
        ) {
          return { status };
        }
        throw unexpectedReply('rotateApiKey');
      },
    );
  }

  /** Revokes a key (an earlier revocation time is kept); the record, or undefined. */
  async revoke(keyId: string, at: number): Promise<ApiKeyRecord | undefined> {
    const args = [
      this.space.key('ak:', text(keyId, 'keyId', OWNER)),
      this.space.nowArg(),
      epochArg(at, 'at', OWNER),
    ];
    return this.space.connection.run(
      'revokeApiKey',
      (redis) => redis[COMMANDS.apiKeyRevoke](...args),
      optionalKey,
    );
  }

  /** Records last-used times, never lowering one. */
  async touch(uses: readonly { readonly keyId: string; readonly at: number }[]): Promise<void> {
    for (let start = 0; start < uses.length; start += TOUCH_BATCH) {
      const batch = uses.slice(start, start + TOUCH_BATCH);
      const keys = batch.map((u) => this.space.key('ak:', text(u.keyId, 'keyId', OWNER)));
      const times = batch.map((u) => epochArg(u.at, 'at', OWNER));
      const args = [String(keys.length), ...keys, this.space.nowArg(), ...times];
      await this.space.connection.run('touchApiKeys', (redis) =>
        redis[COMMANDS.apiKeyTouch](...args),
      );
    }
  }
}

/** The stored field/value pairs of a key record (hash, never the key). */
function keyFields(record: ApiKeyRecord): string[] {
  const pairs = [
    'id',
    text(record.keyId, 'keyId', OWNER),
    'h',
    hexHash(record.hash),
    'client',
    text(record.client, 'client', OWNER),
    'sub',
    text(record.subject, 'subject', OWNER),
    'scopes',
    JSON.stringify(record.scopes.map((s) => text(s, 'scope', OWNER))),
    'env',
    text(record.environment, 'environment', OWNER),
    'created',
    epochArg(record.createdAt, 'createdAt', OWNER),
    'expires',
    epochArg(record.expiresAt, 'expiresAt', OWNER),
  ];
  if (record.name !== undefined) pairs.push('name', text(record.name, 'name', OWNER));
  if (record.revokedAt !== undefined) {
    pairs.push('revoked', epochArg(record.revokedAt, 'revokedAt', OWNER));
  }
  if (record.replacedBy !== undefined) {
    pairs.push('replacedBy', text(record.replacedBy, 'replacedBy', OWNER));
  }
  if (record.replaces !== undefined) {
    pairs.push('replaces', text(record.replaces, 'replaces', OWNER));
  }
  if (record.lastUsedAt !== undefined) {
    pairs.push('lastUsed', epochArg(record.lastUsedAt, 'lastUsedAt', OWNER));
  }
  return pairs;
}

/** A record reply, or `undefined` for the empty reply of a missing record. */
function optionalKey(reply: unknown): ApiKeyRecord | undefined {
  if (Array.isArray(reply) && reply.length === 0) return undefined;
  return toKey(fieldMap(reply, 'API key'));
}

/** A key record from its stored fields, or `StoreUnavailableError`. */
function toKey(f: Map<string, string>): ApiKeyRecord {
  const get = (name: string) => field(f, name, 'API key');
  const optional = (name: string, key: keyof ApiKeyRecord, number = false) => {
    const value = f.get(name);
    if (value === undefined) return {};
    return { [key]: number ? epochMs(value, 'API key') : value };
  };
  return {
    keyId: get('id'),
    hash: get('h'),
    client: get('client'),
    subject: get('sub'),
    scopes: scopesOf(get('scopes')),
    environment: get('env'),
    ...optional('name', 'name'),
    createdAt: epochMs(get('created'), 'API key'),
    expiresAt: epochMs(get('expires'), 'API key'),
    ...optional('revoked', 'revokedAt', true),
    ...optional('replacedBy', 'replacedBy'),
    ...optional('replaces', 'replaces'),
    ...optional('lastUsed', 'lastUsedAt', true),
  } as ApiKeyRecord;
}
