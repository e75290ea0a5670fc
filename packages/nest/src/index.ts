export { TokenwardenModule } from './tokenwarden.module';
export type {
  TokenwardenForRootOptions,
  TokenwardenModuleAsyncOptions,
  TokenwardenModuleExtras,
  TokenwardenModuleOptions,
  TokenwardenOptionsFactory,
} from './tokenwarden.module-definition';
export { TokenwardenGuard } from './tokenwarden.guard';
export { TokenwardenException } from './tokenwarden.exception';
export { TokenwardenMetricsController } from './tokenwarden-metrics.controller';
export { TokenwardenHealthController } from './tokenwarden-health.controller';
export {
  AnyScope,
  Auth,
  ClaimCheck,
  ClaimEquals,
  ClaimIncludes,
  type ClaimDecorator,
  Consent,
  DataSubject,
  InjectWarden,
  LawfulBasis,
  Public,
  RequireDpop,
  Scopes,
  type ConsentOptions,
  type LawfulBasisOptions,
  type TokenwardenRequest,
} from './decorators';
export { requestViewOf, type HttpRequestLike } from './request-view';
export { getWardenToken, TOKENWARDEN_WARDEN } from './tokens';
export type { Principal, Warden } from '@tokenwarden/core';
export { tokenEndpointController, type TokenEndpointControllerOptions } from './token-endpoint';
export {
  secretScanningController,
  type SecretScanningControllerOptions,
} from './secret-scanning.controller';
export { checkPolicyDrift, nestRoutes, TokenwardenPolicyDrift } from './tokenwarden.drift';
export { addTokenwardenSecurity, type NestOpenApiOptions } from './openapi';
