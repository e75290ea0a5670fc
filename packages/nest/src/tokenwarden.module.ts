import { Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import type { Warden } from '@tokenwarden/core';
import {
  ConfigurableModuleClass,
  type ASYNC_OPTIONS_TYPE,
  isWarden,
  WARDEN_HANDLE,
  type TokenwardenForRootOptions,
  type TokenwardenModuleAsyncOptions,
} from './tokenwarden.module-definition';

/**
 * Provides a `Warden` (inject it with `@InjectWarden()`), `TokenwardenGuard` and the metrics
 * endpoint. Route decorators are checked against the warden's policy at start-up; a warden the
 * module created is closed (audit flushed, store released) on application shutdown.
 *
 * @example
 * @Module({
 *   imports: [TokenwardenModule.forRoot({ jwt, purposes: ['marketing'] })],
 *   providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
 * })
 * export class AppModule {}
 */
@Module({})
export class TokenwardenModule extends ConfigurableModuleClass implements OnApplicationShutdown {
  constructor(
    @Inject(WARDEN_HANDLE)
    private readonly handle: { readonly warden: Warden; readonly owned: boolean },
  ) {
    super();
  }

  /** Warden options (plus module settings), `{ warden }` or a `Warden`. */
  static override forRoot(options: TokenwardenForRootOptions | Warden): DynamicModule {
    // The builder copies option keys into a plain object, which would strip a Warden's class.
    return super.forRoot(isWarden(options) ? { warden: options } : options);
  }

  /** Options from a factory, a class or an existing provider (e.g. built from `ConfigService`). */
  static override forRootAsync(options: TokenwardenModuleAsyncOptions): DynamicModule {
    // `useFactory` takes `never[]` publicly (any factory fits, no `any` leaks); Nest calls it.
    return super.forRootAsync(options as typeof ASYNC_OPTIONS_TYPE);
  }

  async onApplicationShutdown(): Promise<void> {
    if (this.handle.owned) await this.handle.warden.close();
  }
}
