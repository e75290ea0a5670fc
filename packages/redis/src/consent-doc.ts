import { RecordCipher, StoreUnavailableError } from '@tokenwarden/core/internal';
import type { StoreContext } from './store-context';
import { unexpectedReply } from './values';

/** What a grant or a withdrawal records beyond its times. */
export interface ConsentDoc {
  readonly source?: string;
  readonly notice?: string;
  readonly evidence?: string;
}

/**
 * The one place a `RedisStore` serialises what a consent record holds beyond its times (the
 * `gdoc` and `wdoc` fields, which the scripts copy as opaque strings): an encryption of records
 * at rest wraps this and {@link decodeConsentDoc}.
 */
export function encodeConsentDoc(doc: ConsentDoc): string {
  const out: Record<string, string> = {};
  if (doc.source !== undefined) out['source'] = doc.source;
  if (doc.notice !== undefined) out['notice'] = doc.notice;
  if (doc.evidence !== undefined) out['evidence'] = doc.evidence;
  return JSON.stringify(out);
}

/**
 * What binds a sealed doc to its record, so a doc copied to another record does not open: the
 * subject and purpose, or with hashed subject names (`subjectNameKey`) the subject's hashed name
 * and the purpose, which `tokenwarden keys rewrap` reads from the record's key without knowing
 * the subject.
 */
export function consentDocContext(
  subject: string,
  purpose: string,
  hashedName: string | undefined,
): string {
  return hashedName === undefined
    ? `consent:${JSON.stringify([subject, purpose])}`
    : `consent-name:${JSON.stringify([hashedName, purpose])}`;
}

/** A doc as the store keeps it: sealed with its `recordCipher`, else the JSON. */
export function storedDoc(
  store: StoreContext,
  subject: string,
  purpose: string,
  hashedName: string | undefined,
  doc: ConsentDoc,
): string {
  const json = encodeConsentDoc(doc);
  return store.cipher === undefined
    ? json
    : store.cipher.seal(json, consentDocContext(subject, purpose, hashedName));
}

/**
 * A stored doc, opened when sealed. A sealed doc and no cipher, a wrong master key or an altered
 * doc throw a `StoreUnavailableError` saying which (the warden fails closed), never a record
 * without its proof.
 */
export function readDoc(
  stored: string,
  subject: string,
  purpose: string,
  cipher: RecordCipher | undefined,
  hashedName: string | undefined,
): ConsentDoc {
  if (!RecordCipher.isSealed(stored)) return decodeConsentDoc(stored);
  if (cipher === undefined) {
    throw new StoreUnavailableError(
      'the consent record is encrypted: give the RedisStore its recordCipher (the master key)',
    );
  }
  let json: string;
  try {
    json = openDoc(cipher, stored, subject, purpose, hashedName);
  } catch (error) {
    throw new StoreUnavailableError(
      `a consent record cannot be opened: ${error instanceof Error ? error.message : 'error'}`,
    );
  }
  return decodeConsentDoc(json);
}

/**
 * Opens a sealed doc bound to its record; under hashed names, a doc sealed before the keys were
 * migrated (bound to the subject in clear) opens too, until it is re-sealed.
 */
function openDoc(
  cipher: RecordCipher,
  stored: string,
  subject: string,
  purpose: string,
  hashedName: string | undefined,
): string {
  if (hashedName === undefined)
    return cipher.open(stored, consentDocContext(subject, purpose, undefined));
  try {
    return cipher.open(stored, consentDocContext(subject, purpose, hashedName));
  } catch (error) {
    try {
      return cipher.open(stored, consentDocContext(subject, purpose, undefined));
    } catch {
      throw error;
    }
  }
}

/** The doc {@link encodeConsentDoc} wrote; `StoreUnavailableError` for anything else. */
export function decodeConsentDoc(stored: string): ConsentDoc {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stored);
  } catch {
    throw unexpectedReply('consent');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw unexpectedReply('consent');
  }
  const doc: { source?: string; notice?: string; evidence?: string } = {};
  for (const name of ['source', 'notice', 'evidence'] as const) {
    const value = (parsed as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') throw unexpectedReply('consent');
    doc[name] = value;
  }
  return doc;
}
