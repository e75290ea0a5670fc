import { ConfigError } from '../errors';
import { masterKey } from '../internal/envelope';
import type { ResolvedAuditOptions } from './options';
import type { SubjectKeyStore } from './subject-keys';

/**
 * The environment variable holding the master key (32 random bytes, base64url or hex). When it
 * is set, a warden whose store keeps data subject keys seals `subject` and `dataSubject` without
 * further configuration; the CLI reads the same variable.
 */
export const MASTER_KEY_ENV = 'TOKENWARDEN_MASTER_KEY';

/**
 * A store that can also keep the audit trail's data subject keys, next to its own records:
 * `RedisStore` (in the same Redis, under its prefix) and `MemoryStore` (in process memory, as long
 * as the store's own state).
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
 * and the store keeps data subject keys. Otherwise the options as they are. A master key in the
 * variable that is not 32 bytes is a ConfigError, never a silent fallback to identifiers in clear.
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
  if (text === undefined || text.trim() === '' || !isSubjectKeyHome(store)) return audit;
  let key;
  try {
    key = masterKey(text, MASTER_KEY_ENV);
  } catch (error) {
    throw new ConfigError(
      `${error instanceof Error ? error.message : String(error)}; it seals the audit trail's data subjects (set audit.subjectKeys: false to keep them in clear)`,
    );
  }
  return { ...audit, subjectKeys: { store: store.subjectKeyStore(), masterKey: key } };
}
