export * from './types';
export { JsonLinesSink, MemorySink, type JsonLinesSinkOptions } from './sinks';
export { truncateAddress } from './privacy';
export type { AddressMode, AuditOptions } from './options';
export type { AuditEventInput } from './trail';
