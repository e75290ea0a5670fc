export {
  ACCESS_TOKEN_PARAMETER,
  CredentialExposure,
  queryCredentials,
  type ExposedCredential,
  type ExposureAction,
  type ExposurePlace,
} from './exposure';
export {
  findStoredCredential,
  isStoredCredentialLive,
  revokeStoredCredential,
  storedCredentialId,
  type CredentialLookup,
  type StoredCredential,
  type StoredCredentialRevoker,
} from './find';
export { ownJwt, type OwnJwt } from './jwt';
export { RecentReports } from './recent-reports';
export {
  auditText,
  LeakResponder,
  type CredentialFacts,
  type IdentifiedCredential,
  type LeakParts,
} from './responder';
export { ScannerKeys } from './scanner-keys';
