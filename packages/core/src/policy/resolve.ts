import { durationMs } from '../internal/duration';
import type { SecretRef } from '../issue/secrets';
import type { SigningAlgorithm } from '../issue/signing-keys';
import type { LawfulBasis } from './requirement';
import { resolveRetention } from './retention';
import type { PolicyDocument } from './schema';
import type { Policy, PolicyClient, PolicyPurpose, PolicyScope } from './types';

/**
 * Builds the {@link Policy} from a schema-valid document. Its name-keyed records have no
 * prototype, so a name such as `constructor` is declared only when the document declares it.
 */
export function resolvePolicy(raw: PolicyDocument): Policy {
  const maxTokenLifetimeMs = durationMs(raw.limits.maxTokenLifetime);
  const maxApiKeyAgeMs = durationMs(raw.limits.maxApiKeyAge);
  const clients = record<PolicyClient>();
  for (const [id, c] of Object.entries(raw.clients)) {
    clients[id] = {
      ...(c.description !== undefined ? { description: c.description } : {}),
      scopes: c.scopes,
      maxTokenLifetimeMs:
        c.maxTokenLifetime !== undefined ? durationMs(c.maxTokenLifetime) : maxTokenLifetimeMs,
      apiKeyMaxAgeMs: c.apiKeyMaxAge !== undefined ? durationMs(c.apiKeyMaxAge) : maxApiKeyAgeMs,
      ...(c.rotationPeriod !== undefined ? { rotationPeriodMs: durationMs(c.rotationPeriod) } : {}),
      ...(c.secret !== undefined ? { secret: c.secret as SecretRef } : {}),
      refreshTokens: c.refreshTokens === true,
      ...(c.recipient !== undefined ? { recipient: c.recipient } : {}),
    };
  }
  const scopes = record<PolicyScope>();
  for (const [n, s] of Object.entries(raw.scopes)) {
    scopes[n] = { description: s.description, dataCategories: s.dataCategories ?? [] };
  }
  const purposes = record<PolicyPurpose>();
  for (const [n, p] of Object.entries(raw.purposes)) {
    purposes[n] = {
      description: p.description,
      lawfulBasis: p.lawfulBasis as PolicyPurpose['lawfulBasis'],
      dataSubjects: p.dataSubjects ?? [],
      ...(p.retention !== undefined ? { retentionMs: durationMs(p.retention) } : {}),
    };
  }
  return {
    issuer: raw.issuer,
    audience: raw.audience,
    ...(raw.controller !== undefined ? { controller: raw.controller } : {}),
    limits: {
      maxTokenLifetimeMs,
      maxApiKeyAgeMs,
      clockToleranceMs: durationMs(raw.limits.clockTolerance),
      refreshTokenLifetimeMs: durationMs(raw.limits.refreshTokenLifetime),
      refreshFamilyLifetimeMs: durationMs(raw.limits.refreshFamilyLifetime),
    },
    signing: {
      algorithm: raw.signing.algorithm as SigningAlgorithm,
      ...(raw.signing.rotationPeriod !== undefined
        ? { rotationPeriodMs: durationMs(raw.signing.rotationPeriod) }
        : {}),
      activationDelayMs: durationMs(raw.signing.activationDelay),
      ...(raw.signing.masterKey !== undefined
        ? { masterKey: raw.signing.masterKey as SecretRef }
        : {}),
      previousMasterKeys: (raw.signing.previousMasterKeys ?? []) as SecretRef[],
    },
    scopes,
    purposes,
    clients,
    ...(raw.routes !== undefined
      ? {
          routes: raw.routes.map((r) => {
            const [method, path] = r.route.split(' ') as [string, string];
            return {
              method,
              path,
              scopes: r.scopes,
              ...(r.purpose !== undefined ? { purpose: r.purpose } : {}),
              ...(r.lawfulBasis !== undefined ? { lawfulBasis: r.lawfulBasis as LawfulBasis } : {}),
              ...(r.dataSubject !== undefined ? { dataSubject: r.dataSubject } : {}),
              ...(r.public === true ? { public: true } : {}),
            };
          }),
        }
      : {}),
    ...(raw.retention !== undefined ? { retention: resolveRetention(raw) } : {}),
  };
}

function record<T>(): Record<string, T> {
  return Object.create(null) as Record<string, T>;
}
