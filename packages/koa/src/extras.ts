/**
 * The package's exports beyond the middleware: the policy drift check, core's shutdown and the
 * secret-scanning endpoint.
 */
export { checkPolicyDrift, koaRoutes } from './drift';
export { gracefulShutdown, type Principal } from '@tokenwarden/core';
export { secretScanningHandler, type SecretScanningOptions } from './secret-scanning';
