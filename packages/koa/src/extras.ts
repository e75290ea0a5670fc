/** The package's exports beyond the middleware: the policy drift check and core's shutdown. */
export { checkPolicyDrift, koaRoutes } from './drift';
export { gracefulShutdown, type Principal } from '@tokenwarden/core';
