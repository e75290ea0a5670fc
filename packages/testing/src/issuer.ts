import {
  MemorySigningKeyStore,
  SigningKeyRing,
  TokenIssuer,
  type TokenIssuerOptions,
} from '@tokenwarden/core';

/**
 * A started in-memory signing key ring (tokens up to 10 minutes) and a token issuer for
 * `https://api.test/`, audience `api`, over it: the token-endpoint tests' deployment. The caller
 * closes the ring.
 */
export async function testIssuer(
  clients: TokenIssuerOptions['clients'],
  options: Partial<Omit<TokenIssuerOptions, 'clients'>> = {},
): Promise<{ ring: SigningKeyRing; issuer: TokenIssuer }> {
  const ring = new SigningKeyRing({
    store: new MemorySigningKeyStore(),
    maxTokenLifetimeMs: 600_000,
  });
  await ring.start();
  const issuer = new TokenIssuer({
    issuer: 'https://api.test/',
    audience: 'api',
    keys: ring,
    clients,
    ...options,
  });
  return { ring, issuer };
}
