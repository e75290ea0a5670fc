import {
  ConfigurableModuleBuilder,
  type DynamicModule,
  type FactoryProvider,
  type ModuleMetadata,
  type Type,
} from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { createWarden, Warden, type WardenOptions } from '@tokenwarden/core';
import type { DriftMode } from '@tokenwarden/core/internal';
import type { Policy } from '@tokenwarden/core/policy';
import { healthControllerAt } from './tokenwarden-health.controller';
import { metricsControllerAt } from './tokenwarden-metrics.controller';
import { TOKENWARDEN_DRIFT, TokenwardenPolicyDrift } from './tokenwarden.drift';
import { TokenwardenGuard } from './tokenwarden.guard';
import { TokenwardenRouteValidator } from './tokenwarden.validator';
import { TOKENWARDEN_OPTIONS, TOKENWARDEN_WARDEN } from './tokens';

/**
 * The warden settings: core `WardenOptions` (with `policy`, the policy's routes are enforced and
 * checked against the controllers at start-up), or an existing `Warden` (shared with other code),
 * with the `policy` it was made with for that check.
 */
export type TokenwardenModuleOptions =
  WardenOptions | { readonly warden: Warden; readonly policy?: Policy } | Warden;

/** Module settings that shape the module itself rather than the warden. */
export interface TokenwardenModuleExtras {
  /** Register the module globally, so guards in every module can inject the warden. Default: `true`. */
  readonly isGlobal?: boolean;
  /**
   * Where `TokenwardenMetricsController` is mounted (open, not audited; the app's global prefix
   * applies), or `false` to mount none. Default: `'/metrics'`.
   */
  readonly metricsPath?: string | false;
  /**
   * Where `TokenwardenHealthController` is mounted for readiness probes (open, not audited; 200
   * `{ status: 'ok' }` or 503 `{ status: 'unavailable', reason }`), or `false` to mount none.
   * Default: `false`.
   */
  readonly healthPath?: string | false;
  /**
   * What a disagreement between the controllers and the policy does when the application starts:
   * `'error'` fails `app.init()` / `app.listen()`, `'warn'` logs it. Default: `'error'` when
   * `NODE_ENV=production`, else `'warn'`.
   */
  readonly drift?: DriftMode;
}

/** Options of `TokenwardenModule.forRoot`. */
export type TokenwardenForRootOptions = (
  WardenOptions | { readonly warden: Warden; readonly policy?: Policy }
) &
  TokenwardenModuleExtras;

/** A class that provides the options, for `forRootAsync({ useClass })`. */
export interface TokenwardenOptionsFactory {
  createTokenwardenOptions(): TokenwardenModuleOptions | Promise<TokenwardenModuleOptions>;
}

/** Options of `TokenwardenModule.forRootAsync`: one of `useFactory`, `useClass`, `useExisting`. */
export interface TokenwardenModuleAsyncOptions extends TokenwardenModuleExtras {
  /** Modules exporting the providers `inject` names (e.g. `ConfigModule`). */
  readonly imports?: ModuleMetadata['imports'];
  /** Returns the warden options (or a warden); receives the `inject` providers in order. */
  readonly useFactory?: (
    ...args: never[]
  ) => TokenwardenModuleOptions | Promise<TokenwardenModuleOptions>;
  /** Providers passed to `useFactory`. */
  readonly inject?: FactoryProvider['inject'];
  readonly useClass?: Type<TokenwardenOptionsFactory>;
  readonly useExisting?: Type<TokenwardenOptionsFactory>;
}

// Every extra is listed, `drift` too: the builder strips the keys listed here from the options.
const DEFAULT_EXTRAS: Omit<Required<TokenwardenModuleExtras>, 'drift'> & {
  readonly drift: DriftMode | undefined;
} = {
  isGlobal: true,
  metricsPath: '/metrics',
  healthPath: false,
  drift: undefined,
};

/** True for a `Warden`, also one loaded through the other module format (ESM vs CJS). */
export function isWarden(value: unknown): value is Warden {
  if (value instanceof Warden) return true;
  if (value === null || typeof value !== 'object') return false;
  const candidate = value as Partial<Record<keyof Warden, unknown>>;
  return (
    typeof candidate.begin === 'function' &&
    typeof candidate.requirement === 'function' &&
    typeof candidate.close === 'function'
  );
}

/** The warden the options name, and whether the module created it (and so closes it). */
export function wardenOf(options: TokenwardenModuleOptions): { warden: Warden; owned: boolean } {
  if (isWarden(options)) return { warden: options, owned: false };
  if ('warden' in options) {
    if (!isWarden(options.warden)) {
      throw new TypeError('TokenwardenModule: `warden` must be a Warden from @tokenwarden/core');
    }
    return { warden: options.warden, owned: false };
  }
  return { warden: createWarden(options), owned: true };
}

/** Provider of the owned-or-borrowed warden; `TOKENWARDEN_WARDEN` unwraps it. */
export const WARDEN_HANDLE = Symbol('tokenwarden:warden-handle');

function defineModule(definition: DynamicModule, extras: TokenwardenModuleExtras): DynamicModule {
  const metricsPath =
    extras.metricsPath === undefined ? DEFAULT_EXTRAS.metricsPath : extras.metricsPath;
  const healthPath = extras.healthPath ?? DEFAULT_EXTRAS.healthPath;
  return {
    ...definition,
    global: extras.isGlobal ?? DEFAULT_EXTRAS.isGlobal,
    imports: [...(definition.imports ?? []), DiscoveryModule],
    providers: [
      ...(definition.providers ?? []),
      {
        provide: WARDEN_HANDLE,
        useFactory: (options: TokenwardenModuleOptions) => wardenOf(options),
        inject: [TOKENWARDEN_OPTIONS],
      },
      {
        provide: TOKENWARDEN_WARDEN,
        useFactory: (handle: { warden: Warden }) => handle.warden,
        inject: [WARDEN_HANDLE],
      },
      TokenwardenGuard,
      TokenwardenRouteValidator,
      { provide: TOKENWARDEN_DRIFT, useValue: extras.drift },
      TokenwardenPolicyDrift,
    ],
    controllers: [
      ...(metricsPath === false ? [] : [metricsControllerAt(metricsPath)]),
      ...(healthPath === false ? [] : [healthControllerAt(healthPath)]),
    ],
    exports: [TOKENWARDEN_WARDEN, TokenwardenGuard],
  };
}

export const { ConfigurableModuleClass, ASYNC_OPTIONS_TYPE } =
  new ConfigurableModuleBuilder<TokenwardenModuleOptions>({
    moduleName: 'Tokenwarden',
    optionsInjectionToken: TOKENWARDEN_OPTIONS,
  })
    .setClassMethodName('forRoot')
    .setFactoryMethodName('createTokenwardenOptions')
    .setExtras<TokenwardenModuleExtras>(DEFAULT_EXTRAS, defineModule)
    .build();
