import { createPublicKey, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  generateSigningKey,
  jwksOf,
  MemoryCredentialStore,
  RefreshTokens,
  signingKeyObject,
  staticSigningKey,
  TokenEndpoint,
  TokenIssuer,
  type AuditEventInput,
  type TokenRevoker,
  type JwkSet,
  type VerificationKey,
  type WardenMetrics,
} from '@tokenwarden/core';
import {
  issuerClientsFromPolicy,
  loadPolicyFile,
  refreshTokenClientsFromPolicy,
  refreshTokenOptionsFromPolicy,
  type Policy,
} from '@tokenwarden/core/policy';

/** The policy file of the examples, found from the working directory (or TOKENWARDEN_POLICY). */
export function demoPolicyPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.TOKENWARDEN_POLICY) return env.TOKENWARDEN_POLICY;
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    for (const candidate of [
      join(dir, 'examples', 'shared', 'tokenwarden.policy.yaml'),
      join(dir, '..', 'shared', 'tokenwarden.policy.yaml'),
    ]) {
      if (existsSync(candidate)) return candidate;
    }
    if (dirname(dir) === dir) break;
  }
  throw new Error('cannot find examples/shared/tokenwarden.policy.yaml; set TOKENWARDEN_POLICY');
}

/** Client credentials for the token endpoint. */
export interface DemoClient {
  readonly id: string;
  readonly secret: string;
}

/** Where the token service reports, and revokes through: the warden, once it exists. */
export interface DemoTokenSink extends TokenRevoker {
  recordEvent(event: AuditEventInput): void;
  readonly metrics: Pick<WardenMetrics, 'tokenIssued' | 'refreshReuseDetected'>;
}

/** The examples' own token issuance: policy, signing key, issuer, token endpoint and JWKS. */
export interface DemoTokenService {
  readonly policy: Policy;
  readonly issuer: TokenIssuer;
  readonly endpoint: TokenEndpoint;
  /** Public keys for GET /.well-known/jwks.json. */
  readonly jwks: { jwks(): JwkSet };
  /** The key the warden verifies the issued tokens with. */
  readonly verificationKey: VerificationKey;
  /** Each client's credentials (secrets from DEMO_*_SECRET, else random for this run). */
  readonly clients: Readonly<Record<string, DemoClient>>;
  /** Sends issuance audit events and metrics to the warden. */
  attach(sink: DemoTokenSink): void;
}

/**
 * Builds the token service from the policy file: an ES256 signing key generated at start (a
 * deployment shares a rotating `SigningKeyRing` through Redis instead; see docs/lifecycle.md),
 * the policy's clients with their scopes and lifetimes, and their secrets from the variables the
 * policy names (random for this run when unset).
 */
export function demoTokenService(env: NodeJS.ProcessEnv = process.env): DemoTokenService {
  const policy = loadPolicyFile(demoPolicyPath(env));
  const key = generateSigningKey(policy.signing.algorithm, Date.now());
  let sink: DemoTokenSink | undefined;
  const issuer = new TokenIssuer({
    issuer: policy.issuer,
    audience: policy.audience,
    keys: staticSigningKey({ kid: key.kid, alg: key.alg, key: signingKeyObject(key) }),
    clients: issuerClientsFromPolicy(policy),
    maxTokenLifetimeMs: policy.limits.maxTokenLifetimeMs,
    audit: { recordEvent: (event) => sink?.recordEvent(event) },
    metrics: { tokenIssued: (client) => sink?.metrics.tokenIssued(client) },
  });
  const clients: Record<string, DemoClient> = {};
  for (const [id, client] of Object.entries(policy.clients)) {
    const ref = client.secret;
    const fromEnv = ref && 'env' in ref ? env[ref.env] : undefined;
    clients[id] = { id, secret: fromEnv || randomBytes(32).toString('base64url') };
  }
  // Refresh tokens (grant_type=refresh_token) for the clients the policy marks refreshTokens:
  // kept in memory here; a deployment shares a RedisCredentialStore between its nodes. A reuse
  // revokes the family's access tokens through the warden, so the API refuses them at once.
  const refreshTokens = new RefreshTokens({
    store: new MemoryCredentialStore(),
    revoker: {
      revokeToken: async (tokenId, options) => {
        if (sink === undefined) throw new Error('the token service is not attached to a warden');
        await sink.revokeToken(tokenId, options);
      },
    },
    audit: { recordEvent: (event) => sink?.recordEvent(event) },
    metrics: { refreshReuseDetected: () => sink?.metrics.refreshReuseDetected() },
    ...refreshTokenOptionsFromPolicy(policy),
  });
  const refreshClients = refreshTokenClientsFromPolicy(policy);
  const endpoint = new TokenEndpoint({
    issuer,
    clientSecrets: Object.fromEntries(Object.values(clients).map((c) => [c.id, c.secret])),
    audit: { recordEvent: (event) => sink?.recordEvent(event) },
    refreshTokens,
    refreshTokenClients: refreshClients,
  });
  return {
    policy,
    issuer,
    endpoint,
    jwks: { jwks: () => jwksOf([key], Date.now()) },
    verificationKey: {
      kid: key.kid,
      alg: key.alg,
      key: createPublicKey(signingKeyObject(key)),
    },
    clients,
    attach(next) {
      sink = next;
    },
  };
}
