import type { AuditEvent } from '../audit';
import type { StoreQuery } from '../store/types';
import type { ExposureReport, ExposureRevocation, ExposureSelector } from './exposure-types';
import { CappedSet, iso } from './read';

const REVOCATIONS = new Set([
  'token.revoked',
  'apikey.revoked',
  'subject.revoked',
  'client.revoked',
  'all.revoked',
]);

/** Most revocation events kept for the report. */
const MAX_REVOCATIONS = 10_000;

/** A revocation event as read, with the token, subject and client it names. */
interface Revocation extends ExposureRevocation {
  readonly at: number;
  readonly tokenId?: string;
  readonly subject?: string;
  readonly client?: string;
}

/**
 * What the trail says about the leaked credential itself: the token ids, subjects and clients
 * it showed up with, the scopes it was issued with or used, when it was issued and until when,
 * and the revocations that apply to it. Revocations are weighed against what is known when they
 * are read and again at the end, since a later event may tie the credential to one.
 * @internal
 */
export class CredentialTrace {
  readonly tokenIds = new CappedSet(100_000);
  readonly subjects = new CappedSet(1_000);
  readonly clients = new CappedSet(1_000);
  readonly scopes = new Set<string>();
  /** Where the scopes were learnt: `issuance`, `uses`, `api_key`, `policy`. */
  readonly scopesFrom = new Set<string>();
  issuedAt: number | undefined;
  expiresAt: number | undefined;
  lifetimeSeconds: number | undefined;
  tokensIssued = 0;
  /** Earliest revocation read so far that applies (epoch ms). */
  revokedSoFar: number | undefined;
  /** The token or API-key id the selector names, if it names one. */
  readonly ownTokenId: string | undefined;
  private readonly matches: (event: AuditEvent) => boolean;
  private readonly revocations: Revocation[] = [];

  constructor(private readonly selector: ExposureSelector) {
    this.matches = matcher(selector);
    this.ownTokenId = credentialTokenId(selector);
  }

  /**
   * Reads one event of the trail; true when it is a use of the credential (an access decision
   * it made), which the caller then tallies.
   */
  read(event: AuditEvent, time: number): boolean {
    if (REVOCATIONS.has(event.type)) {
      this.readRevocation(event, time);
      return false;
    }
    if (!this.matches(event)) return false;
    // A rotation names the replacing key; only the selected key's own id is the credential's.
    const ownId = event.type !== 'apikey.rotated' || event.tokenId === this.ownTokenId;
    if (event.tokenId !== undefined && ownId) this.tokenIds.add(event.tokenId);
    if (event.subject !== undefined) this.subjects.add(event.subject);
    if (event.client !== undefined) this.clients.add(event.client);
    switch (event.type) {
      case 'token.issued':
      case 'apikey.created':
      case 'apikey.rotated':
        this.readIssuance(event, time);
        return false;
      case 'access.decision':
        for (const s of event.scopes ?? []) {
          this.scopes.add(s);
          this.scopesFrom.add('uses');
        }
        return true;
      default:
        return false;
    }
  }

  /** The credential's identity in the report. */
  credential(): ExposureReport['credential'] {
    const s = this.selector;
    if ('tokenId' in s) return { kind: 'token', id: s.tokenId };
    if ('apiKeyId' in s) return { kind: 'api_key', id: s.apiKeyId };
    if ('client' in s) return { kind: 'client', id: s.client };
    return { kind: 'subject', id: s.subject };
  }

  /** The client the credential belongs to: the selected one, else the first seen. */
  clientId(): string | undefined {
    return 'client' in this.selector ? this.selector.client : [...this.clients.values][0];
  }

  /** The store query for the credential's revocation state now. */
  storeQuery(): StoreQuery {
    const own = this.ownTokenId;
    const client = this.clientId();
    return {
      // A token named by its fingerprint is looked up by the id its events carry.
      tokenId:
        (own !== undefined && this.tokenIds.values.has(own) ? own : [...this.tokenIds.values][0]) ??
        own ??
        '',
      subject:
        'subject' in this.selector ? this.selector.subject : ([...this.subjects.values][0] ?? ''),
      ...(client !== undefined ? { client } : {}),
    };
  }

  /** The revocations that apply, with the earliest one's time. */
  applyingRevocations(): { revokedAt?: number; events: ExposureRevocation[] } {
    const applying = this.revocations.filter((r) => this.applies(r));
    return {
      ...(applying.length > 0 ? { revokedAt: Math.min(...applying.map((r) => r.at)) } : {}),
      events: applying.map(({ at: _at, tokenId: _t, subject: _s, client: _c, ...r }) => r),
    };
  }

  private readIssuance(event: AuditEvent, time: number): void {
    if (event.outcome !== 'success') return;
    if (event.type === 'token.issued') this.tokensIssued += 1;
    for (const s of event.scopes ?? []) this.scopes.add(s);
    if ((event.scopes ?? []).length > 0) this.scopesFrom.add('issuance');
    if (event.tokenId === undefined || event.tokenId !== this.ownTokenId) return;
    this.issuedAt = time;
    const exp = event.detail?.expiresAt;
    if (typeof exp === 'number') this.expiresAt = exp;
    else if (typeof exp === 'string') this.expiresAt = Date.parse(exp);
    const life = event.detail?.lifetimeSeconds;
    if (typeof life === 'number') this.lifetimeSeconds = life;
  }

  private readRevocation(event: AuditEvent, time: number): void {
    const matches = this.matches(event);
    if (event.type === 'token.revoked' || event.type === 'apikey.revoked') {
      if (!matches && !(event.tokenId && this.tokenIds.values.has(event.tokenId))) return;
    }
    const r: Revocation = {
      ...revocationOf(event),
      at: time,
      ...(event.tokenId !== undefined ? { tokenId: event.tokenId } : {}),
      ...(event.subject !== undefined ? { subject: event.subject } : {}),
      ...(event.client !== undefined ? { client: event.client } : {}),
    };
    if (event.tokenId !== undefined && matches) this.tokenIds.add(event.tokenId);
    if (this.revocations.length < MAX_REVOCATIONS) this.revocations.push(r);
    if (this.applies(r) && (this.revokedSoFar === undefined || time < this.revokedSoFar)) {
      this.revokedSoFar = time;
    }
  }

  /** Whether a revocation applies to the credential, as far as is known when it is asked. */
  private applies(r: Revocation): boolean {
    if (r.outcome !== 'success') return false;
    const selector = this.selector;
    let scoped: boolean;
    switch (r.type) {
      case 'token.revoked':
      case 'apikey.revoked':
        scoped = r.tokenId !== undefined && this.tokenIds.values.has(r.tokenId);
        break;
      case 'subject.revoked':
        scoped =
          r.subject !== undefined &&
          (this.subjects.values.has(r.subject) ||
            ('subject' in selector && r.subject === selector.subject));
        break;
      case 'client.revoked':
        scoped =
          r.client !== undefined &&
          (this.clients.values.has(r.client) ||
            ('client' in selector && r.client === selector.client));
        break;
      default:
        scoped = true;
    }
    // A not-before mark refuses tokens issued at or before it: for one token it applies only if
    // the token was issued by then (an unknown issue time is listed, as it may apply).
    if (!scoped || r.before === undefined || this.issuedAt === undefined) return scoped;
    if (!('tokenId' in selector || 'apiKeyId' in selector)) return true;
    return this.issuedAt <= Date.parse(r.before);
  }
}

function credentialTokenId(selector: ExposureSelector): string | undefined {
  if ('tokenId' in selector) return selector.tokenId;
  if ('apiKeyId' in selector) return selector.apiKeyId;
  return undefined;
}

function matcher(selector: ExposureSelector): (event: AuditEvent) => boolean {
  if ('tokenId' in selector) {
    const id = selector.tokenId;
    return (e) => e.tokenId === id || e.tokenFingerprint === id;
  }
  if ('apiKeyId' in selector) {
    const id = selector.apiKeyId;
    return (e) =>
      e.tokenId === id || (e.type === 'apikey.rotated' && e.detail?.previousKeyId === id);
  }
  if ('client' in selector) {
    const id = selector.client;
    return (e) => e.client === id;
  }
  const id = selector.subject;
  return (e) => e.subject === id;
}

function revocationOf(event: AuditEvent): ExposureRevocation {
  const before = event.detail?.before;
  const reason = event.detail?.reason;
  return {
    time: event.time,
    type: event.type,
    outcome: event.outcome,
    ...(event.actor !== undefined ? { actor: event.actor } : {}),
    ...(typeof reason === 'string' ? { reason } : {}),
    ...(typeof before === 'number'
      ? { before: iso(before) }
      : typeof before === 'string'
        ? { before }
        : {}),
  };
}
