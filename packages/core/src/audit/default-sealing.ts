import { ConfigError } from '../errors';
import { masterKey } from '../internal/envelope';
import type { ResolvedAuditOptions } from './options';
import { FileSubjectKeyStore, type SubjectKeyStore } from './subject-keys';

/**
 * The environment variable holding the master key (32 random bytes, base64url or hex). When it
 * is set, a warden whose store keeps data subject keys seals `subject` and `dataSubject` without
 * further configuration; the CLI reads the same variable.
 */
export const MASTER_KEY_ENV = 'TOKENWARDEN_MASTER_KEY';

/**
 * The environment variable naming a directory of data subject keys (a `FileSubjectKeyStore`), for
 * sealing by default on a single node; the CLI reads the same variable.
 */
export const SUBJECT_KEYS_ENV = 'TOKENWARDEN_SUBJECT_KEYS';

/**
 * A store that can also keep the audit trail's data subject keys, durably, next to its own
 * records: `RedisStore` (in the same Redis, under its prefix, where the CLI's `erase` finds them).
 * `MemoryStore` is not one: keys lost with the process would make the trail's identifiers
 * unreadable after a restart.
 */
export interface SubjectKeyHome {
  /** The key store of this store; the same instance on every call. */
  subjectKeyStore(): SubjectKeyStore;
}

function isSubjectKeyHome(store: unknown): store is SubjectKeyHome {
  return (
    typeof store === 'object' &&
    store !== null &&
    typeof (store as Partial<SubjectKeyHome>).subjectKeyStore === 'function'
  );
}

/**
 * Sealing by default: the audit options with `subjectKeys` filled in when none were given (and
 * not refused with `false`), the trail has sinks, `$TOKENWARDEN_MASTER_KEY` holds a master key
 * and there is a durable key store: the directory of `$TOKENWARDEN_SUBJECT_KEYS`, else the
 * store's own (see {@link SubjectKeyHome}). Otherwise the options as they are (and the warden
 * warns that identifiers are in clear). A master key in the variable that is not 32 bytes is a
 * ConfigError, never a silent fallback to identifiers in clear.
 * @internal
 */
export function withDefaultSealing(
  audit: ResolvedAuditOptions,
  store: unknown,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedAuditOptions {
  if (audit.subjectKeys !== undefined || audit.subjectsInClearChosen) return audit;
  if (audit.sinks.length === 0) return audit;
  const text = env[MASTER_KEY_ENV];
  if (text === undefined || text.trim() === '') return audit;
  const dir = env[SUBJECT_KEYS_ENV];
  const keys =
    dir !== undefined && dir !== ''
      ? new FileSubjectKeyStore(dir)
      : isSubjectKeyHome(store)
        ? store.subjectKeyStore()
        : undefined;
  if (keys === undefined) return audit;
  let key;
  try {
    key = masterKey(text, MASTER_KEY_ENV);
  } catch (error) {
    throw new ConfigError(
      `${error instanceof Error ? error.message : String(error)}; it seals the audit trail's data subjects (set audit.subjectKeys: false to keep them in clear)`,
    );
  }
  return { ...audit, subjectKeys: { store: keys, masterKey: key } };
}
