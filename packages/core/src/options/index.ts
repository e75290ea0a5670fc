export type {
  ApiKeyOptions,
  CacheOptions,
  CredentialOptions,
  JwtOptions,
  Logger,
  PurposeDefinition,
  WardenDpopOptions,
  WardenOptions,
} from './types';
export { DEFAULTS } from './defaults';
