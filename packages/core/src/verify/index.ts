export {
  isKeySelector,
  JWT_ALGORITHMS,
  keyFromEnv,
  keyFromFile,
  type JwtAlgorithm,
  type KeySelector,
  type KeySourceOptions,
  type RingKey,
  type VerificationKey,
} from './key-ring';
export { API_KEY_ISSUER, looksLikeApiKey, verifyApiKey, type ApiKeyVerifyPolicy } from './api-key';
export {
  checkSourceUrl,
  fetchJson,
  KeySourceError,
  type FetchJsonOptions,
  type KeySourceErrorCode,
  type KeySourceFetchEvent,
} from './key-source';
export { RemoteJwks, type RemoteJwksOptions } from './jwks';
export { isKeyResolver, ResolvedKeys, type KeyResolver } from './key-resolver';
export { type ClaimProfile, type ScopeClaimFormat } from './claims';
export { VERIFY_DETAILS, type VerifyDetail } from './details';
export { DiscoveredKeys, type ProviderMetadata } from './discovery';
export {
  TrustedIssuers,
  type IssuerStatus,
  type IssuerVerifyFailure,
  type IssuerVerifyResult,
  type KeySourceTuning,
  type PreparedIssuer,
  type TrustedIssuerOptions,
  type TrustedIssuersOptions,
} from './oidc';
export {
  DPOP_AUTHORIZATION,
  DpopVerifier,
  type DpopCheckInput,
  type DpopErrorCode,
  type DpopFailure,
  type DpopMode,
  type DpopOptions,
  type DpopResult,
} from './dpop';
export { DpopNonces, type DpopNonceOptions } from './dpop-nonces';
export {
  accessTokenHash,
  DPOP_ALGORITHMS,
  jwkThumbprint,
  normalizeHtu,
  verifyDpopProof,
  type DpopAlgorithm,
  type DpopProof,
  type DpopProofInput,
  type DpopProofResult,
} from './dpop-proof';
