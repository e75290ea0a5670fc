import type { AuditEvent } from '../audit';
import type { Policy } from '../policy/types';
import type { SecurityMeasures } from './processing-types';
import { CappedCounter } from './read';
import type { ReportHeader } from './types';

const REFUSED_FOR_CONSENT = new Set(['consent_missing', 'consent_withdrawn', 'consent_expired']);

/**
 * The security measures of the records of processing: what the policy configures (lifetimes,
 * rotation, encryption) and what the trail shows of them (issuance, rotation, revocation,
 * refusals, pseudonymisation), counted one event at a time.
 * @internal
 */
export class SecurityTally {
  private issued = 0;
  private longest: number | undefined;
  private overCap = 0;
  private readonly keys = { created: 0, rotated: 0, revoked: 0 };
  private refreshed = 0;
  private reuse = 0;
  private signingRotated = 0;
  private readonly revoked = { tokens: 0, subjects: 0, clients: 0, all: 0 };
  private refusedRevoked = 0;
  private readonly consent = { refused: 0, granted: 0, withdrawn: 0 };
  private decisions = 0;
  private allowed = 0;
  private readonly denials = new CappedCounter(100);
  private truncated = 0;
  private hashed = 0;
  private fingerprints = 0;
  private recoveries = 0;

  constructor(private readonly policy: Policy) {}

  add(event: AuditEvent): void {
    if (event.tokenFingerprint !== undefined) this.fingerprints += 1;
    if (event.clientAddress !== undefined) {
      if (event.clientAddress.startsWith('h:')) this.hashed += 1;
      else this.truncated += 1;
    }
    const ok = event.outcome === 'success';
    switch (event.type) {
      case 'access.decision':
        this.decision(event);
        return;
      case 'token.issued':
        if (ok && event.detail?.tokenType !== 'refresh') this.issuance(event);
        return;
      case 'token.refreshed':
        if (ok) this.refreshed += 1;
        return;
      case 'refresh.reuse_detected':
        this.reuse += 1;
        return;
      case 'apikey.created':
        if (ok) this.keys.created += 1;
        return;
      case 'apikey.rotated':
        if (ok) this.keys.rotated += 1;
        return;
      case 'apikey.revoked':
        if (ok) this.keys.revoked += 1;
        return;
      case 'signing_key.rotated':
        if (ok) this.signingRotated += 1;
        return;
      case 'token.revoked':
        if (ok) this.revoked.tokens += 1;
        return;
      case 'subject.revoked':
        if (ok) this.revoked.subjects += 1;
        return;
      case 'client.revoked':
        if (ok) this.revoked.clients += 1;
        return;
      case 'all.revoked':
        if (ok) this.revoked.all += 1;
        return;
      case 'consent.granted':
        if (ok) this.consent.granted += 1;
        return;
      case 'consent.withdrawn':
        if (ok) this.consent.withdrawn += 1;
        return;
      case 'state.restored':
      case 'state.loss_accepted':
        if (ok) this.recoveries += 1;
        return;
      default:
        return;
    }
  }

  result(header: ReportHeader): SecurityMeasures {
    const p = this.policy;
    const clients = Object.entries(p.clients).sort(([a], [b]) => (a < b ? -1 : 1));
    return {
      tokens: {
        maxLifetimeSeconds: p.limits.maxTokenLifetimeMs / 1000,
        clientCaps: clients.map(([client, c]) => ({
          client,
          maxLifetimeSeconds: c.maxTokenLifetimeMs / 1000,
        })),
        issued: this.issued,
        ...(this.longest !== undefined ? { longestIssuedSeconds: this.longest } : {}),
        issuedOverCap: this.overCap,
      },
      apiKeys: {
        maxAgeSeconds: p.limits.maxApiKeyAgeMs / 1000,
        clients: clients.map(([client, c]) => ({
          client,
          maxAgeSeconds: c.apiKeyMaxAgeMs / 1000,
          ...(c.rotationPeriodMs !== undefined
            ? { rotationPeriodSeconds: c.rotationPeriodMs / 1000 }
            : {}),
        })),
        ...this.keys,
      },
      refreshTokens: {
        idleLifetimeSeconds: p.limits.refreshTokenLifetimeMs / 1000,
        familyLifetimeSeconds: p.limits.refreshFamilyLifetimeMs / 1000,
        clients: clients.filter(([, c]) => c.refreshTokens).map(([client]) => client),
        refreshed: this.refreshed,
        reuseDetected: this.reuse,
      },
      signing: {
        algorithm: p.signing.algorithm,
        ...(p.signing.rotationPeriodMs !== undefined
          ? { rotationPeriodSeconds: p.signing.rotationPeriodMs / 1000 }
          : {}),
        encryptedAtRest: p.signing.masterKey !== undefined,
        keysRotated: this.signingRotated,
      },
      revocation: {
        ...this.revoked,
        apiKeys: this.keys.revoked,
        refusedRevoked: this.refusedRevoked,
      },
      consent: { ...this.consent },
      accessControl: {
        decisions: this.decisions,
        allowed: this.allowed,
        denied: this.decisions - this.allowed,
        denials: this.denials.entries().map(({ key, count }) => ({ reason: key, count })),
      },
      audit: {
        chainVerified: header.chain.verified,
        keyed: header.chain.keyed,
        producers: header.chain.chains.length,
        addresses: { truncated: this.truncated, hashed: this.hashed },
        fingerprints: this.fingerprints,
        stateRecoveries: this.recoveries,
      },
    };
  }

  private decision(event: AuditEvent): void {
    this.decisions += 1;
    if (event.outcome === 'allow') {
      this.allowed += 1;
      return;
    }
    const reason = event.reason ?? '(none)';
    this.denials.add(reason);
    if (reason === 'token_revoked') this.refusedRevoked += 1;
    if (REFUSED_FOR_CONSENT.has(reason)) this.consent.refused += 1;
  }

  private issuance(event: AuditEvent): void {
    this.issued += 1;
    const life = event.detail?.lifetimeSeconds;
    if (typeof life !== 'number') return;
    if (this.longest === undefined || life > this.longest) this.longest = life;
    const client = event.client === undefined ? undefined : this.policy.clients[event.client];
    const cap = client?.maxTokenLifetimeMs ?? this.policy.limits.maxTokenLifetimeMs;
    if (life * 1000 > cap) this.overCap += 1;
  }
}
