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
} from './envelope';
export {
  activeKeyAt,
  generateSigningKey,
  jwksOf,
  MemorySigningKeyStore,
  planRetirement,
  planRotation,
  publicJwk,
  type Jwk,
  type JwkSet,
  type RotationPlan,
  type SigningAlgorithm,
  type SigningKeyInfo,
  type SigningKeySet,
  type SigningKeyStore,
  type StoredSigningKey,
} from './signing-keys';
export {
  SigningKeyRing,
  staticSigningKey,
  type ActiveSigningKey,
  type AuditRecorder,
  type SigningKeyRingOptions,
  type SigningKeySource,
} from './signing-key-ring';
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
  jwksResponse,
  MAX_TOKEN_REQUEST_BYTES,
  parseTokenRequestBody,
  readTokenRequestBody,
  TokenEndpoint,
  type TokenEndpointOptions,
  type TokenEndpointResponse,
  type TokenRequestView,
} from './token-endpoint';
export * from './credential-store';
export * from './api-keys';
export * from './refresh';
