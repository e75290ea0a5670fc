export {
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
  RemoteJwks,
  type FetchJsonOptions,
  type KeySourceErrorCode,
  type KeySourceFetchEvent,
  type RemoteJwksOptions,
} from './jwks';
export {
  DiscoveredKeys,
  TrustedIssuers,
  type IssuerStatus,
  type IssuerVerifyFailure,
  type IssuerVerifyResult,
  type KeySourceTuning,
  type PreparedIssuer,
  type ProviderMetadata,
  type TrustedIssuerOptions,
  type TrustedIssuersOptions,
} from './oidc';
