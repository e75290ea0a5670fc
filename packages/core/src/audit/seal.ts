import { ConfigError } from '../errors';
import type { Envelope, MasterKey } from '../internal/envelope';
import {
  decryptIdentifier,
  encryptIdentifier,
  loadPseudonymKey,
  newWrappedKey,
  pseudonymOf,
  PSEUDONYM_PREFIX,
  SubjectKeyError,
  unwrapKey,
  type SubjectKeyStore,
} from './subject-keys';
import type { AuditEvent, AuditEventInput } from './types';

/** An event as the pipeline reports it, with the encrypted copies of its personal fields. */
export type SealedInput = AuditEventInput & Pick<AuditEvent, 'sealed'>;

/**
 * The fields that name a person and are stored as a keyed pseudonym plus an encrypted copy. A
 * client id names an application, not a person, and stays in clear; so do token ids (random) and
 * fingerprints (keyed hashes).
 */
export const PERSONAL_FIELDS = ['subject', 'dataSubject'] as const;

/** A field of {@link PERSONAL_FIELDS}. */
export type PersonalField = (typeof PERSONAL_FIELDS)[number];

/** What an event stores in place of a field it could not seal (the key store never answered). */
export const WITHHELD = 'withheld';

/** Prefix reports and tools show for a pseudonym whose key was destroyed. */
export const ERASED_PREFIX = 'erased:';

/** Per-data-subject encryption of the audit trail's personal fields (`audit.subjectKeys`). */
export interface SubjectKeyOptions {
  /** Where the per-subject keys and the pseudonym key are kept. */
  readonly store: SubjectKeyStore;
  /** Wraps every key in the store (from the environment or a file, never from code). */
  readonly masterKey: MasterKey;
  /** Master keys used before `masterKey`: keys wrapped with them still open. Default: none. */
  readonly previousMasterKeys?: readonly MasterKey[];
  /** Most subjects whose key, pseudonym and encrypted copy are kept in memory. Default: 10000. */
  readonly cacheSize?: number;
  /**
   * How long a cached key is used before the store is asked again whether it still exists (so a
   * key destroyed by `tokenwarden erase` stops being used), in ms. Default: 300000 (5 minutes).
   */
  readonly recheckMs?: number;
}

interface Sealed {
  readonly pseudonym: string;
  /** base64url copy, or '' when no key could be made durable. */
  readonly copy: string;
  readonly at: number;
}

/**
 * Seals events before they enter the hash chain: each personal field becomes its keyed pseudonym,
 * and `sealed` holds the encrypted copies. Keys, pseudonyms and copies are cached per identifier
 * (a bounded LRU): an identifier is encrypted once per cache life, not once per event, and a warm
 * event costs two map look-ups. New subjects are prepared per batch, off the request path: one
 * store call loads the keys of a batch's new subjects and one more creates the missing ones, and
 * the batch waits until they are durable, so no event is written with a copy whose key could be
 * lost.
 * @internal
 */
export class SubjectSealer {
  private pseudonymKey: Buffer | undefined;
  /** Recently used identifiers; with `previous`, a cheap LRU of at most `max` entries. */
  private current = new Map<string, Sealed>();
  private previous = new Map<string, Sealed>();
  private readonly max: number;
  private readonly recheckMs: number;
  private readonly masters: readonly MasterKey[];

  constructor(
    private readonly options: SubjectKeyOptions,
    private readonly now: () => number,
    private readonly logError: (message: string, error: unknown) => void,
  ) {
    if (options.store === undefined || typeof options.store.load !== 'function') {
      throw new ConfigError('audit.subjectKeys.store must be a subject key store');
    }
    if (options.masterKey === undefined || !Buffer.isBuffer(options.masterKey.key)) {
      throw new ConfigError(
        'audit.subjectKeys.masterKey is required: read it with masterKey(...) from the environment or a file',
      );
    }
    this.masters = [options.masterKey, ...(options.previousMasterKeys ?? [])];
    this.max = options.cacheSize ?? 10_000;
    this.recheckMs = options.recheckMs ?? 300_000;
  }

  /** Makes sure every identifier of `inputs` has a durable key and a cached copy. */
  async prepare(inputs: readonly AuditEventInput[]): Promise<void> {
    const now = this.now();
    const wanted = new Set<string>();
    for (const input of inputs) {
      for (const field of PERSONAL_FIELDS) {
        const value = input[field];
        if (value === undefined) continue;
        const known = this.get(value);
        if (known === undefined || now - known.at > this.recheckMs || known.copy === '') {
          wanted.add(value);
        }
      }
    }
    if (wanted.size === 0) return;
    try {
      this.pseudonymKey ??= await loadPseudonymKey(this.options.store, this.masters);
    } catch (error) {
      this.logError('audit subject key store unavailable; personal fields are withheld', error);
      return;
    }
    const key = this.pseudonymKey!;
    const byName = new Map<string, string>();
    for (const id of wanted) byName.set(pseudonymOf(key, id), id);
    try {
      const stored = await this.options.store.load([...byName.keys()]);
      const fresh = new Map<string, Envelope>();
      const made = new Map<string, Buffer>();
      for (const name of byName.keys()) {
        if (stored.has(name)) continue;
        const created = newWrappedKey(name, this.options.masterKey);
        fresh.set(name, created.wrapped);
        made.set(name, created.key);
      }
      if (fresh.size > 0) {
        for (const [name, wrapped] of await this.options.store.create(fresh)) {
          stored.set(name, wrapped);
        }
      }
      for (const [name, id] of byName) {
        const wrapped = stored.get(name)!;
        const own = made.get(name);
        const subjectKey =
          own !== undefined && fresh.get(name) === wrapped
            ? own
            : unwrapKey(name, wrapped, this.masters);
        this.remember(id, {
          pseudonym: name,
          copy: encryptIdentifier(subjectKey, name, id),
          at: now,
        });
      }
    } catch (error) {
      this.logError('audit subject keys could not be stored; events keep pseudonyms only', error);
      for (const [name, id] of byName) {
        if (this.get(id) === undefined) this.remember(id, { pseudonym: name, copy: '', at: 0 });
      }
    }
  }

  /** The input with its personal fields sealed (the same object when it has none). */
  apply(input: AuditEventInput): SealedInput {
    const { subject, dataSubject } = input;
    if (subject === undefined && dataSubject === undefined) return input;
    const out: { -readonly [K in keyof SealedInput]: SealedInput[K] } = { ...input };
    const sealed: Record<string, string> = {};
    if (subject !== undefined) {
      const s = this.lookup(subject);
      out.subject = s?.pseudonym ?? WITHHELD;
      sealed.subject = s?.copy ?? '';
    }
    if (dataSubject !== undefined) {
      const s = this.lookup(dataSubject);
      out.dataSubject = s?.pseudonym ?? WITHHELD;
      sealed.dataSubject = s?.copy ?? '';
    }
    out.sealed = sealed;
    return out;
  }

  private lookup(id: string): Sealed | undefined {
    const found = this.get(id);
    if (found !== undefined || this.pseudonymKey === undefined) return found;
    // Not prepared (cannot happen through the trail): a pseudonym without a copy.
    return { pseudonym: pseudonymOf(this.pseudonymKey, id), copy: '', at: 0 };
  }

  /** The cached entry of an identifier, kept as recently used. */
  private get(id: string): Sealed | undefined {
    const found = this.current.get(id);
    if (found !== undefined) return found;
    const old = this.previous.get(id);
    if (old !== undefined) this.remember(id, old);
    return old;
  }

  /**
   * Two generations instead of a linked list: a hit costs one map read, and when the current
   * generation holds half the cache it becomes the previous one (whose entries are dropped).
   */
  private remember(id: string, sealed: Sealed): void {
    if (this.current.size >= Math.max(1, this.max >> 1) && !this.current.has(id)) {
      this.previous = this.current;
      this.current = new Map();
    }
    this.current.set(id, sealed);
  }
}

/** Options of {@link SubjectOpener}. */
export interface SubjectOpenerOptions {
  /** The subject key store the trail wrote with. */
  readonly store?: SubjectKeyStore;
  /** The master key, and any previous ones. Without them events keep their pseudonyms. */
  readonly masterKeys?: readonly MasterKey[];
}

/**
 * Opens sealed events for reading tools: each pseudonymised field gets its identifier back when
 * the subject's key exists, `erased:<pseudonym>` when it was destroyed, and stays a pseudonym
 * when no master key is given. A wrong master key throws {@link SubjectKeyError}.
 */
export class SubjectOpener {
  private readonly keys = new Map<string, Buffer | null>();
  /** Identifiers of the copies opened so far. */
  private readonly opened = new Map<string, string>();
  private readonly masters: readonly MasterKey[];

  constructor(private readonly options: SubjectOpenerOptions = {}) {
    this.masters = options.masterKeys ?? [];
  }

  /** Whether identifiers can be decrypted (a store and a master key were given). */
  get canDecrypt(): boolean {
    return this.options.store !== undefined && this.masters.length > 0;
  }

  /** The event as a person reads it; the same object when nothing in it is sealed. */
  async open(event: AuditEvent): Promise<AuditEvent> {
    const sealed = event.sealed;
    if (sealed === undefined || !this.canDecrypt) return event;
    const out: Record<string, unknown> = { ...event };
    delete out.sealed;
    for (const field of PERSONAL_FIELDS) {
      const pseudonym = event[field];
      const copy = sealed[field];
      if (pseudonym === undefined || copy === undefined) continue;
      if (!pseudonym.startsWith(PSEUDONYM_PREFIX)) continue;
      const key = await this.key(pseudonym);
      if (key === null) {
        out[field] = ERASED_PREFIX + pseudonym;
        continue;
      }
      if (copy === '') continue;
      // Copies repeat (one per subject and writer): decrypt each once.
      let clear = this.opened.get(copy);
      if (clear === undefined) {
        clear = decryptIdentifier(key, pseudonym, copy);
        if (clear !== undefined) {
          if (this.opened.size >= 100_000) this.opened.clear();
          this.opened.set(copy, clear);
        }
      }
      if (clear === undefined) {
        throw new SubjectKeyError(
          `event ${event.id}: the encrypted ${field} does not authenticate under its subject key (altered?)`,
        );
      }
      out[field] = clear;
    }
    return out as unknown as AuditEvent;
  }

  private async key(pseudonym: string): Promise<Buffer | null> {
    const cached = this.keys.get(pseudonym);
    if (cached !== undefined) return cached;
    const wrapped = (await this.options.store!.load([pseudonym])).get(pseudonym);
    const key = wrapped === undefined ? null : unwrapKey(pseudonym, wrapped, this.masters);
    if (this.keys.size >= 100_000) this.keys.clear();
    this.keys.set(pseudonym, key);
    return key;
  }
}
