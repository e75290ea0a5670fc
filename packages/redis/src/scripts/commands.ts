/** One Lua script, as `RedisConnection.define` registers it with ioredis `defineCommand`. */
export interface ScriptDefinition {
  /** The command name on the client (see {@link COMMANDS}). */
  readonly name: string;
  readonly lua: string;
  /** How many leading arguments are keys; `undefined` when the caller passes the count first. */
  readonly numberOfKeys?: number;
}

/**
 * The custom command name of every script, namespaced because they are defined on clients the
 * user may own (and share between Tokenwarden classes: each name is defined once, by one class).
 */
export const COMMANDS = {
  // RedisStore
  lookup: 'tokenwardenLookup',
  raise: 'tokenwardenRaise',
  grant: 'tokenwardenGrant',
  withdraw: 'tokenwardenWithdraw',
  consentGet: 'tokenwardenConsentGet',
  consentList: 'tokenwardenConsentList',
  consentErase: 'tokenwardenConsentErase',
  heartbeat: 'tokenwardenHeartbeat',
  epochWrite: 'tokenwardenEpochWrite',
  epochCheck: 'tokenwardenEpochCheck',
  epochSpread: 'tokenwardenEpochSpread',
  // RedisCredentialStore: API keys
  apiKeyCreate: 'tokenwardenAkCreate',
  apiKeyFind: 'tokenwardenAkFind',
  apiKeyGet: 'tokenwardenAkGet',
  apiKeyList: 'tokenwardenAkList',
  apiKeyRotate: 'tokenwardenAkRotate',
  apiKeyRevoke: 'tokenwardenAkRevoke',
  apiKeyTouch: 'tokenwardenAkTouch',
  // RedisCredentialStore: refresh-token families
  refreshCreate: 'tokenwardenRfCreate',
  refreshRotate: 'tokenwardenRfRotate',
  refreshAddAccess: 'tokenwardenRfAddAccess',
  refreshFind: 'tokenwardenRfFind',
  refreshRevoke: 'tokenwardenRfRevoke',
  // RedisUsageLimiter
  limit: 'tokenwardenLimit',
  // RedisStreamSink
  auditAppend: 'tokenwardenAuditAppendPacked',
  // RedisSigningKeyStore
  signingKeysSave: 'tokenwardenSigningKeysSave',
} as const;

/** A command name of {@link COMMANDS}. */
export type CommandName = (typeof COMMANDS)[keyof typeof COMMANDS];

/** Script commands as callable client methods (defined through `defineCommand`). */
export type ScriptCalls<Name extends CommandName> = Record<
  Name,
  (...args: (string | Buffer)[]) => Promise<unknown>
>;
