import { createHash, randomUUID, sign, type KeyObject } from 'node:crypto';
import { jwkThumbprint } from '@tokenwarden/core/internal';
import { keyPair } from './fixtures';

/** A DPoP client key pair (P-256), generated for the test run. */
export interface DpopClientKey {
  readonly privateKey: KeyObject;
  readonly jwk: Readonly<Record<string, unknown>>;
  /** RFC 7638 thumbprint: the access token's `cnf.jkt`. */
  readonly jkt: string;
}

/** Generates a client key for DPoP proofs. */
export function dpopClientKey(): DpopClientKey {
  const { privateKey, publicKey } = keyPair('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' }) as Record<string, unknown>;
  const jkt = jwkThumbprint(jwk);
  if (jkt === undefined) throw new Error('no thumbprint for a generated P-256 key');
  return { privateKey, jwk, jkt };
}

/** What a proof claims; every field can be overridden (undefined drops it) to build bad proofs. */
export interface DpopProofClaims {
  readonly htm: string;
  readonly htu: string;
  /** The access token the proof goes with: `ath` is its SHA-256. */
  readonly accessToken?: string;
  readonly nonce?: string;
  /** Overrides of claims (`jti`, `iat`, …) and of the header (`header`). */
  readonly claims?: Readonly<Record<string, unknown>>;
  readonly header?: Readonly<Record<string, unknown>>;
  /** Signs with another key than the one in the header (a mismatched proof). */
  readonly signer?: DpopClientKey;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** Builds an ES256 DPoP proof (RFC 9449 §4.2) for one request. */
export function dpopProof(key: DpopClientKey, input: DpopProofClaims): string {
  const header: Record<string, unknown> = {
    typ: 'dpop+jwt',
    alg: 'ES256',
    jwk: key.jwk,
    ...input.header,
  };
  const claims: Record<string, unknown> = {
    jti: randomUUID(),
    htm: input.htm,
    htu: input.htu,
    iat: Math.floor(Date.now() / 1000),
    ...(input.accessToken !== undefined
      ? { ath: createHash('sha256').update(input.accessToken).digest('base64url') }
      : {}),
    ...(input.nonce !== undefined ? { nonce: input.nonce } : {}),
    ...input.claims,
  };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  const signing = `${b64(header)}.${b64(claims)}`;
  const signature = sign('sha256', Buffer.from(signing), {
    key: (input.signer ?? key).privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${signing}.${signature.toString('base64url')}`;
}
