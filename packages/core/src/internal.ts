/**
 * `@tokenwarden/core/internal`: what Tokenwarden's own packages (the adapters, the Redis store, the
 * CLI and the test kit) share beyond the public face of `@tokenwarden/core`. Applications should
 * not import it: it changes without notice between versions.
 */
export * from './index';
export * from './audit';
export * from './issue';
export * from './limits';
export * from './leaks';
export * from './metrics';
export * from './policy';
export * from './store';
export * from './verify';
export * from './http/adapter';
export * from './policy/step-tag';
export * from './policy/drift';
export { throwDenial } from './http/denial';
export * from './http/node';
export * from './http/settle';
export * from './http/token-endpoint-http';
export * from './http/views';
export { isRevoked } from './revocation';
export * from './http/answers';
export * from './http/secret-scanning';
export { answerSecretScanning } from './http/secret-scanning-http';
