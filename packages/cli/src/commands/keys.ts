import type { Command } from 'commander';
import {
  createAdmin,
  jwksOf,
  MemoryStore,
  RecordCipher,
  rewrapChainKey,
  rewrapSubjectKeys,
  rotateSigningKeys,
  type AuditEventInput,
  type SigningAlgorithm,
  type SigningKeySettings,
} from '@tokenwarden/core/internal';
import { durationMs } from '@tokenwarden/core/policy';
import {
  openClient,
  RedisChainKeyStore,
  RedisSigningKeyStore,
  rewrapConsentRecords,
} from '@tokenwarden/redis';
import { addAuditOptions, actorOf, type AuditFlags } from '../apikey/context';
import { auditDestination, openAuditSinks } from '../audit/destination';
import { keyRows, keyTable } from '../keys/format';
import { masterKeyOf } from '../keys/master-key';
import type { CliIo } from '../io';
import { CliError, globalOptions, print, redisUrl } from '../shared';
import { masterKeysOf, subjectKeyStoreOf, type SubjectKeyFlags } from '../subjects';

interface RewrapFlags extends AuditFlags, SubjectKeyFlags {
  readonly previousMasterKeyFile: string;
  readonly masterKeyFile?: string;
  readonly sealPlainConsent?: boolean;
}

/** Deadline of each Redis call while the consent records are re-sealed, in ms. */
const CONSENT_TIMEOUT_MS = 5_000;

interface RotateFlags extends AuditFlags {
  readonly now?: boolean;
  readonly alg?: string;
  readonly activateIn?: string;
  readonly maxTokenLifetime?: string;
  readonly masterKeyFile?: string;
}

/**
 * Records lifecycle events through the same audit pipeline as the nodes (schema, hash chain): to
 * the Redis audit stream the nodes write and to `--audit-file` (see `auditDestination`). Every
 * event is flushed before this resolves; a lost event is a CliError (the change itself was made).
 */
async function recordEvents(
  command: Command,
  io: CliIo,
  flags: AuditFlags,
  events: AuditEventInput[],
): Promise<void> {
  const sinks = openAuditSinks(redisUrl(command, io), globalOptions(command).prefix, flags, io);
  if (sinks.audit === false) return;
  const store = new MemoryStore();
  const admin = createAdmin({
    store,
    audit: sinks.audit,
    logger: {
      warn: (message: string) => void io.stderr.write(`tokenwarden: ${message}\n`),
      error: (message: string) => void io.stderr.write(`tokenwarden: ${message}\n`),
    },
  });
  try {
    for (const event of events) admin.recordEvent(event);
  } finally {
    await admin.close();
    await store.close();
  }
  sinks.check();
}

/** `tokenwarden keys`: signing keys: rotate, list, publish the JWKS, re-wrap. */
export function registerKeysCommands(program: Command, io: CliIo): void {
  const keys = program.command('keys').description('signing keys: rotate, list, publish the JWKS');

  const storeOf = (
    command: Command,
    masterKeyFile: string | undefined,
    required: boolean,
    previous?: string,
  ) => {
    const master = masterKeyOf(masterKeyFile, io.env, required);
    const old =
      previous !== undefined
        ? masterKeyOf(previous, {}, true, '--previous-master-key-file')
        : undefined;
    const prefix = globalOptions(command).prefix;
    return new RedisSigningKeyStore({
      url: redisUrl(command, io),
      ...(prefix !== undefined ? { prefix } : {}),
      ...(master ? { masterKey: master } : {}),
      ...(old ? { previousMasterKeys: [old] } : {}),
    });
  };

  keys
    .command('list')
    .description('list the signing keys: active, next, verify-only (no secret is read)')
    .action(async (_options: object, command: Command) => {
      const store = storeOf(command, undefined, false);
      try {
        const info = await store.loadInfo();
        const rows = keyRows(info.keys, Date.now());
        print(command, io, { revision: info.revision, keys: rows }, () => keyTable(rows));
      } finally {
        await store.close();
      }
    });

  keys
    .command('jwks')
    .description('print the JWKS (public keys of every key not yet retired)')
    .action(async (_options: object, command: Command) => {
      const store = storeOf(command, undefined, false);
      try {
        const info = await store.loadInfo();
        io.stdout.write(
          JSON.stringify(jwksOf(info.keys, Date.now()), null, globalOptions(command).json ? 0 : 2) +
            '\n',
        );
      } finally {
        await store.close();
      }
    });

  addAuditOptions(keys.command('rotate'))
    .description(
      'schedule a new signing key: published at once, signing after the activation delay; the old key verifies until its tokens expire',
    )
    .option(
      '--now',
      'sign with the new key at once (a compromised key); nodes pick it up within milliseconds',
    )
    .option('--alg <alg>', 'algorithm of the new key (default: as stored by the rings)')
    .option(
      '--activate-in <duration>',
      'publish this long before signing, e.g. 1m (default: as stored)',
    )
    .option(
      '--max-token-lifetime <duration>',
      'longest token lifetime, e.g. 15m (default: as stored)',
    )
    .option('--master-key-file <file>', 'the master key (default: $TOKENWARDEN_MASTER_KEY)')
    .action(async (flags: RotateFlags, command: Command) => {
      // Refused before the change when it would leave no audit event.
      auditDestination(redisUrl(command, io), globalOptions(command).prefix, flags, io);
      const store = storeOf(command, flags.masterKeyFile, true);
      try {
        const settings: Partial<SigningKeySettings> = {
          ...(flags.alg !== undefined ? { algorithm: flags.alg as SigningAlgorithm } : {}),
          ...(flags.activateIn !== undefined
            ? { activationDelayMs: parseDuration(flags.activateIn, '--activate-in') }
            : {}),
          ...(flags.maxTokenLifetime !== undefined
            ? { verifyForMs: parseDuration(flags.maxTokenLifetime, '--max-token-lifetime') + 5_000 }
            : {}),
        };
        const plan = await rotateSigningKeys(store, {
          ...settings,
          now: Date.now(),
          ...(flags.now ? { immediate: true } : {}),
        });
        const created = plan.created;
        const previous = plan.set.keys.find((k) => k.kid === plan.previous?.kid);
        const result = {
          kid: created.kid,
          alg: created.alg,
          activeFrom: new Date(created.activeFrom).toISOString(),
          ...(previous
            ? {
                previousKid: previous.kid,
                previousVerifyUntil: new Date(previous.verifyUntil ?? 0).toISOString(),
              }
            : {}),
        };
        const actor = actorOf(flags, io);
        const detail = { kid: created.kid, alg: created.alg, activeFrom: result.activeFrom };
        // The result is printed even when its audit event is then lost (exit 1 says so).
        print(command, io, result, () =>
          [
            `new signing key ${result.kid} (${result.alg}) signs from ${result.activeFrom}`,
            previous
              ? `previous key ${previous.kid} verifies until ${result.previousVerifyUntil}, then retires`
              : 'there was no active key before it',
          ].join('\n'),
        );
        await recordEvents(command, io, flags, [
          { type: 'signing_key.created', outcome: 'success', actor, detail },
          {
            type: 'signing_key.rotated',
            outcome: 'success',
            actor,
            detail: {
              ...detail,
              ...(previous
                ? {
                    previousKid: previous.kid,
                    previousVerifyUntil: result.previousVerifyUntil ?? '',
                  }
                : {}),
            },
          },
        ]);
      } catch (error) {
        throw asCliError(error);
      } finally {
        await store.close();
      }
    });

  addAuditOptions(keys.command('rewrap'))
    .description(
      're-encrypt every stored signing key, data subject key, the audit chain key and the consent records with the current master key (after the master key rotated)',
    )
    .requiredOption(
      '--previous-master-key-file <file>',
      'the master key the keys are sealed with now',
    )
    .option('--master-key-file <file>', 'the new master key (default: $TOKENWARDEN_MASTER_KEY)')
    .option(
      '--subject-keys <dir>',
      'directory of the data subject keys, when they are kept in files (default: $TOKENWARDEN_SUBJECT_KEYS, else Redis)',
    )
    .option(
      '--seal-plain-consent',
      'also seal the consent records kept in clear (only once every node has a recordCipher: a node without one refuses a sealed record)',
    )
    .action(async (flags: RewrapFlags, command: Command) => {
      auditDestination(redisUrl(command, io), globalOptions(command).prefix, flags, io);
      const store = storeOf(command, flags.masterKeyFile, true, flags.previousMasterKeyFile);
      // The audit trail's data subject keys (and its pseudonym key) are wrapped by it too.
      const subjectKeys = subjectKeyStoreOf(command, flags, io);
      // And the audit chain key, when it is kept in Redis (loadChainKey).
      const chainKeys = new RedisChainKeyStore({
        url: redisUrl(command, io),
        prefix: globalOptions(command).prefix,
      });
      // And the consent records of the RedisStore (recordCipher), in either layout.
      const client = openClient(
        redisUrl(command, io),
        CONSENT_TIMEOUT_MS,
        () => undefined,
        '--redis-url',
      );
      try {
        const count = await store.rewrap();
        const [masterKey, ...previousMasterKeys] = masterKeysOf(flags, io, true);
        const subjects =
          subjectKeys === undefined
            ? 0
            : await rewrapSubjectKeys(subjectKeys, [masterKey!, ...previousMasterKeys]);
        const chain = await rewrapChainKey({
          store: chainKeys,
          masterKey: masterKey!,
          previousMasterKeys,
        });
        const prefix = globalOptions(command).prefix;
        const consent = await rewrapConsentRecords({
          client,
          cipher: new RecordCipher(masterKey!, previousMasterKeys),
          ...(prefix === undefined ? {} : { prefix }),
          sealPlain: flags.sealPlainConsent === true,
        });
        print(
          command,
          io,
          {
            rewrapped: count,
            subjectKeysRewrapped: subjects,
            chainKeyRewrapped: chain,
            consentRecordsResealed: consent.resealed,
            consentRecordsPlain: consent.plain,
            consentRecordsUnreadable: consent.unreadable,
          },
          () =>
            [
              `re-wrapped ${count} signing key(s), ${subjects} data subject key(s) and ${chain ? 'the' : 'no'} audit chain key with the current master key`,
              `consent records re-sealed: ${consent.resealed}`,
              ...(consent.plain > 0
                ? [
                    `consent records in clear: ${consent.plain} (left as they are; --seal-plain-consent seals them once every node has a recordCipher)`,
                  ]
                : []),
              ...(consent.unreadable > 0
                ? [
                    `consent records NOT re-sealed: ${consent.unreadable} (their data subject id is stored hashed)`,
                  ]
                : []),
            ].join('\n'),
        );
        await recordEvents(command, io, flags, [
          {
            type: 'signing_key.rewrapped',
            outcome: 'success',
            actor: actorOf(flags, io),
            detail: { rewrapped: count },
          },
        ]);
      } catch (error) {
        throw asCliError(error);
      } finally {
        await store.close();
        await subjectKeys?.close?.();
        await chainKeys.close();
        client.disconnect();
      }
    });
}

function parseDuration(value: string, flag: string): number {
  try {
    return durationMs(value);
  } catch {
    throw new CliError(`${flag} takes a duration like 30s, 15m or 12h`, 2);
  }
}

function asCliError(error: unknown): unknown {
  if (error instanceof CliError) return error;
  if (error instanceof Error && 'code' in error && typeof error.code === 'string') {
    return new CliError(error.message);
  }
  return error;
}
