export { checkPolicyDrift, gracefulShutdown, type Principal } from '@tokenwarden/core';
export { secretScanningHandler, type SecretScanningOptions } from './secret-scanning';
