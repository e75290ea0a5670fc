import { randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import jwt from 'jsonwebtoken';
import {
  newKeyPair,
  type JwtAlgorithm,
  type JwtOptions,
  type VerificationKey,
} from '@tokenwarden/core';

/** Keys generated for one test run; nothing is read from or written to disk. */
export interface TestKeys {
  readonly hs256: Buffer;
  readonly rs256: { readonly privateKey: KeyObject; readonly publicKey: KeyObject };
  readonly es256: { readonly privateKey: KeyObject; readonly publicKey: KeyObject };
}

/** A fresh key pair, kept apart from its generation job (see `newKeyPair` in core). */
export const keyPair = newKeyPair;

let cached: TestKeys | undefined;

/** Generates (once per process) an HMAC secret, an RSA-2048 and a P-256 key pair. */
export function testKeys(): TestKeys {
  cached ??= {
    hs256: randomBytes(32),
    rs256: keyPair('rsa', { modulusLength: 2048 }),
    es256: keyPair('ec', { namedCurve: 'prime256v1' }),
  };
  return cached;
}

export const TEST_ISSUER = 'https://issuer.test/';
export const TEST_AUDIENCE = 'tokenwarden-test-api';

/** JWT options accepting the three test keys (kids `hs-1`, `rs-1`, `es-1`). */
export function testJwtOptions(
  overrides: Partial<JwtOptions> = {},
): JwtOptions & { readonly keys: readonly VerificationKey[] } {
  const keys = testKeys();
  const options = {
    algorithms: ['HS256', 'RS256', 'ES256'],
    keys: [
      { kid: 'hs-1', alg: 'HS256', key: keys.hs256 },
      { kid: 'rs-1', alg: 'RS256', key: keys.rs256.publicKey },
      { kid: 'es-1', alg: 'ES256', key: keys.es256.publicKey },
    ],
    issuer: TEST_ISSUER,
    audience: TEST_AUDIENCE,
    ...overrides,
  };
  if (!Array.isArray(options.keys)) throw new TypeError('testJwtOptions: keys must be a list here');
  return options as JwtOptions & { readonly keys: readonly VerificationKey[] };
}

/** Options of {@link mintToken}. */
export interface MintOptions {
  /** Algorithm (and so the key) to sign with. Default: HS256. */
  readonly alg?: Exclude<JwtAlgorithm, 'EdDSA'>;
  /** Claims to add or override; `undefined` removes a default claim. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Header fields to add or override. */
  readonly header?: Readonly<Record<string, unknown>>;
  /** Issue time, epoch ms. Default: now. */
  readonly now?: number;
  /** Lifetime in seconds. Default: 300. */
  readonly lifetimeSeconds?: number;
}

const KIDS: Partial<Record<JwtAlgorithm, string>> = { HS256: 'hs-1', RS256: 'rs-1', ES256: 'es-1' };

/** Signs a valid test token: iss, aud, sub, jti, iat, exp and a scope, all overridable. */
export function mintToken(options: MintOptions = {}): string {
  const keys = testKeys();
  const alg = options.alg ?? 'HS256';
  const iat = Math.floor((options.now ?? Date.now()) / 1000);
  const claims: Record<string, unknown> = {
    iss: TEST_ISSUER,
    aud: TEST_AUDIENCE,
    sub: 'user-1',
    jti: randomUUID(),
    iat,
    exp: iat + (options.lifetimeSeconds ?? 300),
    scope: 'customers:read',
    client_id: 'web-app',
    ...options.claims,
  };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  const key = alg.startsWith('HS')
    ? keys.hs256
    : alg.startsWith('ES')
      ? keys.es256.privateKey
      : keys.rs256.privateKey;
  return jwt.sign(claims, key, {
    algorithm: alg,
    header: { alg, typ: 'JWT', kid: KIDS[alg], ...options.header } as jwt.JwtHeader,
  });
}

/** Encodes a JSON value (or raw text) as one base64url JWT segment. */
export function segment(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return Buffer.from(text, 'utf8').toString('base64url');
}

/** A policy with two clients, two scopes, a consent purpose and a contract purpose. */
export const TEST_POLICY = [
  'version: 1',
  'issuer: https://api.example.test/',
  'audience: customers-api',
  'limits: { maxTokenLifetime: 15m, maxApiKeyAge: 90d }',
  'signing: { algorithm: ES256 }',
  'scopes:',
  '  customers:read: { description: Read customers, dataCategories: [contact_details] }',
  '  orders:read: { description: Read orders, dataCategories: [purchase_history] }',
  'purposes:',
  '  marketing: { description: Offers, lawfulBasis: consent }',
  '  order_fulfilment: { description: Delivering orders, lawfulBasis: contract }',
  'clients:',
  '  support-console: { scopes: [customers:read, orders:read], apiKeyMaxAge: 30d }',
  '  batch: { scopes: [orders:read] }',
  'routes:',
  '  - { route: GET /customers/:id, scopes: [customers:read], lawfulBasis: contract }',
  '  - { route: GET /orders, scopes: [orders:read], purpose: marketing }',
  '',
].join('\n');
