import type { AuditEvent } from './types';

/** The name of a field of an {@link AuditEvent}. */
export type AuditField = keyof AuditEvent;

/**
 * Every field of an {@link AuditEvent}, written once, in canonical order: the fields the trail
 * stamps, the event's own fields, the link to the previous event, then the hash. Its type makes
 * the compiler hold it to the interface: a field added to one and not the other fails to compile.
 */
const CANONICAL_ORDER: { readonly [K in AuditField]-?: true } = {
  schemaVersion: true,
  id: true,
  time: true,
  producer: true,
  seq: true,
  type: true,
  outcome: true,
  reason: true,
  tokenId: true,
  tokenFingerprint: true,
  subject: true,
  client: true,
  scopes: true,
  route: true,
  method: true,
  status: true,
  dataSubject: true,
  purpose: true,
  lawfulBasis: true,
  requestId: true,
  clientAddress: true,
  userAgent: true,
  actor: true,
  detail: true,
  sealed: true,
  prevHash: true,
  hash: true,
};

/**
 * Every field of an audit event, in canonical order, `hash` last. Code that lists event fields
 * (serialisations, exports, report columns) derives its list from this one.
 */
export const AUDIT_FIELDS: readonly AuditField[] = Object.freeze(
  Object.keys(CANONICAL_ORDER) as AuditField[],
);

/** The fields the trail stamps on an event: version, id, time and the chain fields. */
export const STAMPED_FIELDS = [
  'schemaVersion',
  'id',
  'time',
  'producer',
  'seq',
  'sealed',
  'prevHash',
  'hash',
] as const satisfies readonly AuditField[];

/** A field the trail stamps; every other field comes from the event as the pipeline reports it. */
export type StampedField = (typeof STAMPED_FIELDS)[number];

/**
 * The `route` of an access decision taken where no route template is known: the request matched
 * no route (or was refused before routing). Audit events never hold the raw path, which can carry
 * an e-mail address or a customer id; `method` is still recorded. A template always starts with
 * `/`, so this marker cannot be mistaken for one.
 */
export const UNMATCHED_ROUTE = '(unmatched)';
