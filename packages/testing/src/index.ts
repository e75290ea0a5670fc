export { FakeClock } from './fake-clock';
export {
  HOSTILE_IDS,
  storeContract,
  type MakeStore,
  type StateLossHooks,
  type StoreContractOptions,
} from './store-contract';
export {
  RedisServer,
  freePort,
  sendCommands,
  deleteKeys,
  type RedisServerOptions,
  type RespReply,
} from './redis-server';
export * from './fixtures';
export * from './store-cases';
export * from './process';
export { TcpProxy, type TcpProxyOptions } from './tcp-proxy';
export { credentialStoreContract, type MakeCredentialStore } from './credential-store-contract';
export {
  auditSinkContract,
  chainedEvents,
  type AuditSinkCase,
  type MakeAuditSink,
} from './audit-sink-contract';
export * from './identity-provider';
export { dpopClientKey, dpopProof, type DpopClientKey, type DpopProofClaims } from './dpop';
export { refreshGrantScenario, type RefreshScenarioApp } from './token-endpoint-scenarios';
export { testIssuer } from './issuer';
