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
