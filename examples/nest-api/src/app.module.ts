import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { JsonLinesSink, type AuditSink, type WardenStore } from '@tokenwarden/core';
import { TokenwardenGuard, TokenwardenModule } from '@tokenwarden/nest';
import { DemoIssuer, demoSecret, demoWardenOptions } from '@tokenwarden/example-shared';
import { ConsentsController, ConsentService } from './consents.controller';
import { CustomersController } from './customers.controller';
import { CustomersRepository } from './customers.repository';
import { DemoTokenController, HealthController } from './open.controller';

/** Options of {@link AppModule.register}. */
export interface AppOptions {
  /** Where revocations and consent live. Default: the embedded MemoryStore. */
  readonly store?: WardenStore;
  /** HS256 secret of the demo issuer. Default: DEMO_JWT_SECRET (base64url), else 32 random bytes. */
  readonly secret?: Buffer;
  /** Where audit events go. Default: JSON lines on stdout. */
  readonly audit?: AuditSink;
  /** Mount POST /demo/token, which mints tokens for anyone. Never in production. Default: true. */
  readonly demoTokens?: boolean;
}

/** The example API: customers, their orders, a marketing profile that needs consent. */
@Module({})
export class AppModule {
  static register(options: AppOptions = {}): DynamicModule {
    const secret = options.secret ?? demoSecret();
    const audit = options.audit ?? new JsonLinesSink();
    return {
      module: AppModule,
      imports: [
        TokenwardenModule.forRoot(
          demoWardenOptions({ secret, store: options.store, sinks: [audit] }),
        ),
      ],
      controllers: [
        HealthController,
        CustomersController,
        ConsentsController,
        ...(options.demoTokens === false ? [] : [DemoTokenController]),
      ],
      providers: [
        // Every route needs a valid, unrevoked token unless it is @Public().
        { provide: APP_GUARD, useClass: TokenwardenGuard },
        { provide: DemoIssuer, useValue: new DemoIssuer(secret) },
        CustomersRepository,
        ConsentService,
      ],
    };
  }
}
