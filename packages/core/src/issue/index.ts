export {
  createSecretSource,
  describeSecretRef,
  type NamedSecretReader,
  type SecretRef,
  type SecretSource,
  type SecretSourceOptions,
} from './secrets';
export {
  EnvelopeError,
  masterKey,
  openSecret,
  sealSecret,
  type Envelope,
  type MasterKey,
} from '../internal/envelope';
export {
  activeKeyAt,
  generateSigningKey,
  jwksOf,
  MemorySigningKeyStore,
  planRetirement,
  planRotation,
  publicJwk,
  rotateSigningKeys,
  signingKeyObject,
  type Jwk,
  type JwkSet,
  type RotateOptions,
  type RotationPlan,
  type SigningAlgorithm,
  type SigningKeyInfo,
  type SigningKeySet,
  type SigningKeySettings,
  type SigningKeyStore,
  type StoredSigningKey,
  newKeyPair,
} from './signing-keys';
export { SigningKeyRing, type SigningKeyRingOptions } from './signing-key-ring';
export {
  checkKeyMaterial,
  keyInfoOf,
  SigningKeyError,
  signingKeySealContext,
  signingKeySetDigest,
  type SigningKeyProblem,
} from './signing-key-integrity';
export {
  staticSigningKey,
  type ActiveSigningKey,
  type SigningKeySource,
} from './signing-key-source';
export type { AuditRecorder, TokenRevoker } from './lifecycle';
export {
  IssueError,
  TokenIssuer,
  type IssueErrorCode,
  type IssueRequest,
  type IssuedToken,
  type IssuerClient,
  type TokenIssuerOptions,
} from './token-issuer';
export {
  TokenEndpoint,
  type IssuedTokenPair,
  type TokenEndpointOptions,
  type TokenRequestView,
} from './token-endpoint';
export { jwksResponse, type TokenEndpointResponse } from './token-endpoint-answers';
export {
  MAX_TOKEN_REQUEST_BYTES,
  parseTokenRequestBody,
  readTokenRequestBody,
} from './token-endpoint-params';
export {
  API_KEY_TYPE,
  DEFAULT_ENVIRONMENT,
  generateCredential,
  hashCredential,
  isValidEnvironment,
  MAX_CREDENTIAL_LENGTH,
  parseCredential,
  REFRESH_TOKEN_TYPE,
  type CredentialFormatError,
  type CredentialType,
  type ParsedCredential,
} from '../internal/credential-format';
export { ApiKeys } from './api-keys';
export {
  apiKeyOptionsFromPolicy,
  ApiKeyError,
  type ApiKeyClientRules,
  type ApiKeyPolicy,
  type ApiKeyRefusal,
  type ApiKeysOptions,
  type CreateApiKeyInput,
  type IssuedApiKey,
  type RotateApiKeyOptions,
} from './api-key-options';
export { ApiKeyUsage, type ApiKeyUsageOptions } from './api-key-usage';
export { RefreshTokens } from './refresh';
export {
  type IssuedRefreshToken,
  type RefreshExpectation,
  type RefreshGrant,
  type RefreshResult,
  type RefreshTokensOptions,
} from './refresh-grant';
export {
  CHAIN_KEY_CONTEXT,
  FileChainKeyStore,
  loadChainKey,
  rewrapChainKey,
  type ChainKeyStore,
  type LoadChainKeyOptions,
} from './chain-key-store';
