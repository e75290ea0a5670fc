export {
  JWT_ALGORITHMS,
  keyFromEnv,
  keyFromFile,
  type JwtAlgorithm,
  type KeySourceOptions,
  type VerificationKey,
} from './key-ring';
