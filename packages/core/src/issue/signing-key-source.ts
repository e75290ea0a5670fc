import type { KeyObject } from 'node:crypto';
import type { SigningAlgorithm } from './signing-keys';

/** The key a token is signed with now. */
export interface ActiveSigningKey {
  readonly kid: string;
  readonly alg: SigningAlgorithm;
  readonly key: KeyObject;
}

/** Gives the issuer the key to sign with. A `SigningKeyRing` is one. */
export interface SigningKeySource {
  /** The key to sign with now; throws when there is none (ring not started). */
  signingKey(): ActiveSigningKey;
}

/**
 * A fixed signing key: one key, no rotation. For deployments that keep their key in a file or
 * the environment.
 */
export function staticSigningKey(key: {
  kid: string;
  alg: SigningAlgorithm;
  key: KeyObject;
}): SigningKeySource {
  return { signingKey: () => key };
}
