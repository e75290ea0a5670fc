import type { Command } from 'commander';
import {
  createAdmin,
  loadPseudonymKey,
  MemoryStore,
  pseudonymOf,
  type WardenStore,
} from '@tokenwarden/core/internal';
import { RedisStore } from '@tokenwarden/redis';
import {
  actorOf,
  addAuditOptions,
  auditDestination,
  openAuditSinks,
  type AuditFlags,
} from '../apikey/context';
import type { CliIo } from '../io';
import { chainKeyOf, CliError, cliLogger, globalOptions, print, redisUrl } from '../shared';
import {
  addSubjectKeyOptions,
  masterKeysOf,
  subjectKeyStoreOf,
  type SubjectKeyFlags,
  storeNamingOf,
} from '../subjects';

interface EraseFlags extends AuditFlags, SubjectKeyFlags {
  readonly subject: string;
  readonly chainKeyFile?: string;
}

/** What `erase` did, as printed with `--json`. */
export interface EraseResult {
  /** The keyed pseudonym the subject's events carry (never the identifier). */
  readonly pseudonym: string;
  /** Whether a subject key was found and destroyed (false: nothing was sealed for it). */
  readonly keyDestroyed: boolean;
  /** Purposes whose consent records were deleted; `null` when no store was reachable. */
  readonly consentErased: readonly string[] | null;
}

/** A store that erases one subject's consent records (`WardenStore.eraseConsent`). */
type ConsentEraser = Pick<WardenStore, 'close'> & {
  eraseConsent?(subject: string): Promise<readonly string[]>;
};

/**
 * `tokenwarden erase --subject <id>`: the right to erasure (GDPR Art. 17) without breaking the
 * audit chain. Destroys the data subject's key (every encrypted copy of the identifier in the
 * JSON lines, spools and the Redis stream becomes unreadable, and reports show
 * `erased:<pseudonym>`), deletes the subject's consent records, and writes one `subject.erased`
 * event carrying only the pseudonym.
 */
export function registerEraseCommand(program: Command, io: CliIo): void {
  addSubjectKeyOptions(addAuditOptions(program.command('erase')))
    .description(
      'erase one data subject: destroy their key (the audit trail keeps only an unreadable copy and a pseudonym, and its chain still verifies), delete their consent records, and record a subject.erased event',
    )
    .requiredOption('--subject <id>', 'the data subject to erase')
    .option(
      '--chain-key-file <path>',
      'chain key of the audit trail, to chain the subject.erased event (default: $TOKENWARDEN_AUDIT_CHAIN_KEY)',
    )
    .action(async (flags: EraseFlags, command: Command) => {
      const subject = flags.subject;
      if (subject === '' || subject.length > 1024) {
        throw new CliError('--subject must be 1 to 1024 characters', 2);
      }
      const masters = masterKeysOf(flags, io, true);
      const keys = subjectKeyStoreOf(command, flags, io);
      if (keys === undefined) {
        throw new CliError(
          'no data subject key store: pass --subject-keys <dir> or --redis-url (or set REDIS_URL)',
          2,
        );
      }
      const hasRedis = (globalOptions(command).redisUrl ?? io.env.REDIS_URL ?? '') !== '';
      // Refused before erasing when the erasure would leave no audit event.
      auditDestination(
        hasRedis ? redisUrl(command, io) : undefined,
        globalOptions(command).prefix,
        flags,
        io,
      );
      let store: ConsentEraser | undefined;
      let result: EraseResult;
      try {
        const pseudonymKey = await loadPseudonymKey(keys, masters, false);
        if (pseudonymKey === undefined) {
          throw new CliError(
            `${keys.description} holds no pseudonym key: no audit trail was sealed with it (check --subject-keys, --prefix and the master key)`,
            1,
          );
        }
        const pseudonym = pseudonymOf(pseudonymKey, subject);
        const keyDestroyed = await keys.destroy(pseudonym);
        let consentErased: readonly string[] | null = null;
        if (hasRedis) {
          store = new RedisStore({
            url: redisUrl(command, io),
            prefix: globalOptions(command).prefix,
            commandTimeoutMs: 5_000,
            logger: cliLogger(command, io),
            ...storeNamingOf(io),
          });
          if (typeof store.eraseConsent !== 'function') {
            throw new CliError('this store cannot erase consent records', 1);
          }
          consentErased = await store.eraseConsent(subject);
        }
        result = { pseudonym, keyDestroyed, consentErased };
        await recordErasure(command, io, flags, result);
      } catch (error) {
        if (error instanceof CliError) throw error;
        throw new CliError(error instanceof Error ? error.message : String(error), 1);
      } finally {
        await keys.close?.();
        await store?.close?.();
      }
      print(command, io, result, () =>
        [
          `erased ${result.pseudonym}`,
          result.keyDestroyed
            ? '  data subject key destroyed: their identifier in the audit trail can no longer be read'
            : '  no data subject key was stored for this identifier (nothing of theirs was sealed)',
          result.consentErased === null
            ? '  consent records: no store given (--redis-url), none erased'
            : `  consent records erased: ${result.consentErased.length === 0 ? 'none' : result.consentErased.join(', ')}`,
          '  revocation marks of this subject, if any, stay until their tokens have expired, so those tokens stay refused; a RedisStore with a subjectNameKey names them by a keyed hash, never by the identifier',
        ].join('\n'),
      );
    });
}

/** Writes the `subject.erased` event (the pseudonym only) to the audit destinations of the flags. */
async function recordErasure(
  command: Command,
  io: CliIo,
  flags: EraseFlags,
  result: EraseResult,
): Promise<void> {
  const url =
    (globalOptions(command).redisUrl ?? io.env.REDIS_URL ?? '') === '' ? '' : redisUrl(command, io);
  const sinks = openAuditSinks(url, globalOptions(command).prefix, flags, io);
  if (sinks.audit === false) return;
  const chainKey = await chainKeyOf(flags, io);
  const store = new MemoryStore();
  // No subject keys here: the event names the subject by its pseudonym alone.
  const admin = createAdmin({
    store,
    audit: { ...sinks.audit, ...(chainKey === undefined ? {} : { chainKey }) },
    logger: cliLogger(command, io),
  });
  try {
    admin.recordEvent({
      type: 'subject.erased',
      outcome: 'success',
      actor: actorOf(flags, io),
      detail: {
        pseudonym: result.pseudonym,
        keyDestroyed: result.keyDestroyed,
        ...(result.consentErased === null
          ? {}
          : { consentRecordsErased: result.consentErased.length }),
      },
    });
  } finally {
    await admin.close();
    await store.close();
  }
  sinks.check();
}
