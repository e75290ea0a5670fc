export { FakeClock } from './fake-clock';
export {
  HOSTILE_IDS,
  storeContract,
  type MakeStore,
  type StoreContractOptions,
} from './store-contract';
export {
  RedisServer,
  freePort,
  sendCommands,
  type RedisServerOptions,
  type RespReply,
} from './redis-server';
export * from './fixtures';
