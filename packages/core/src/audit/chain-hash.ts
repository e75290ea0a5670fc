import { createHmac, hash as hashOnce } from 'node:crypto';
import { escapeJsonText } from './escape';
import { AUDIT_FIELDS, type AuditField } from './fields';
import type { AuditEvent } from './types';

/**
 * Field order of the canonical serialisation: every field of {@link AUDIT_FIELDS} but `hash`, in
 * its order (the stamped fields, then the event's own fields, then the link to the previous
 * event). Fields not in this list follow in sorted order; `detail`'s keys are sorted; absent
 * fields are left out; `hash` is never part of it.
 */
export const CANONICAL_FIELDS: readonly Exclude<AuditField, 'hash'>[] = Object.freeze(
  AUDIT_FIELDS.filter((field): field is Exclude<AuditField, 'hash'> => field !== 'hash'),
);

const KNOWN = new Set<string>(AUDIT_FIELDS);

/**
 * The canonical serialisation the chain hashes: JSON without whitespace (ECMAScript
 * `JSON.stringify` escaping), fields in {@link CANONICAL_FIELDS} order, unknown fields after them
 * in sorted order, `detail` keys sorted, `hash` left out.
 */
export function canonicalJson(event: AuditEvent): string {
  const source = event as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const field of CANONICAL_FIELDS) {
    const value = source[field];
    if (value === undefined) continue;
    out[field] = field === 'detail' ? sortedKeys(value) : value;
  }
  const extra = Object.keys(source)
    .filter((k) => !KNOWN.has(k) && source[k] !== undefined)
    .sort();
  for (const k of extra) out[k] = source[k];
  return JSON.stringify(out);
}

/**
 * The one stored form of an event: its {@link canonicalJson} with `"hash"` appended last and
 * unsafe characters JSON-escaped, as the audit trail writes it. A stored line that differs
 * (duplicate or reordered keys, whitespace, other escapes) was not written by the trail, even
 * when it parses to the same event.
 */
export function canonicalLine(event: AuditEvent, canonical = canonicalJson(event)): string {
  const hash = event.hash;
  const json =
    hash === undefined
      ? canonical
      : `${canonical.length > 2 ? canonical.slice(0, -1) + ',' : '{'}"hash":${JSON.stringify(hash)}}`;
  return escapeJsonText(json);
}

/** A copy of a plain object with its keys in sorted order; other values as they are. */
export function sortedKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return value;
  const source = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(source).sort()) out[k] = source[k];
  return out;
}

/**
 * The id of a chain key (`ck-` and 16 hex digits of an HMAC of a fixed text): names the key in
 * checkpoints and messages without revealing it.
 */
export function chainKeyId(key: Buffer): string {
  return (
    'ck-' + createHmac('sha256', key).update('tokenwarden chain key id').digest('hex').slice(0, 16)
  );
}

/**
 * Hashes canonical serialisations: `hmac-sha256:<base64url>` with a key, `sha256:<base64url>`
 * without one.
 */
export class ChainHasher {
  constructor(private readonly key: Buffer | undefined) {}

  /** Whether hashes are keyed. */
  get keyed(): boolean {
    return this.key !== undefined;
  }

  /** The hash of one canonical serialisation. */
  digest(canonical: string): string {
    return this.key === undefined
      ? // One call, no Hash object: about half the cost of createHash for an event.
        'sha256:' + hashOnce('sha256', canonical, 'base64url')
      : 'hmac-sha256:' + createHmac('sha256', this.key).update(canonical).digest('base64url');
  }
}
