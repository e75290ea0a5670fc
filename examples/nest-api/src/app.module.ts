import { Module, type DynamicModule } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { type AuditSink, type Warden, type WardenStore } from '@tokenwarden/core';
import {
  getWardenToken,
  tokenEndpointController,
  TokenwardenGuard,
  TokenwardenModule,
} from '@tokenwarden/nest';
import {
  DemoIssuer,
  demoSecret,
  demoTokenService,
  demoWardenOptions,
  servedPolicy,
  type DemoTokenService,
} from '@tokenwarden/example-shared';
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
  /** Where audit events go. Default: the warden's default, JSON lines on standard output. */
  readonly audit?: AuditSink;
  /** Mount POST /demo/token, which mints tokens for anyone. Never in production. Default: true. */
  readonly demoTokens?: boolean;
  /** Token issuance (POST /oauth/token, the JWKS). Default: built from the examples' policy. */
  readonly tokens?: DemoTokenService;
}

/** Injection token of the app's {@link DemoTokenService} (client credentials, in tests). */
export const DEMO_TOKENS = Symbol('DemoTokenService');

/** The example API: customers, their orders, a marketing profile that needs consent. */
@Module({})
export class AppModule {
  static register(options: AppOptions = {}): DynamicModule {
    const secret = options.secret ?? demoSecret();
    const tokens = options.tokens ?? demoTokenService();
    return {
      module: AppModule,
      imports: [
        TokenwardenModule.forRoot(
          demoWardenOptions({
            secret,
            store: options.store,
            sinks: options.audit ? [options.audit] : undefined,
            tokenKeys: [tokens.verificationKey],
            // The policy's routes are enforced, and checked against the controllers at start-up.
            policy: servedPolicy(tokens.policy, options.demoTokens !== false),
          }),
        ),
      ],
      controllers: [
        // POST /oauth/token (client credentials) and GET /.well-known/jwks.json, open to clients.
        tokenEndpointController({ endpoint: tokens.endpoint, jwks: tokens.jwks }),
        HealthController,
        CustomersController,
        ConsentsController,
        ...(options.demoTokens === false ? [] : [DemoTokenController]),
      ],
      providers: [
        // Every route needs a valid, unrevoked token unless the policy declares it public.
        { provide: APP_GUARD, useClass: TokenwardenGuard },
        { provide: DemoIssuer, useValue: new DemoIssuer(secret) },
        { provide: DEMO_TOKENS, useValue: tokens },
        {
          // Issuance events and tokens_issued_total go to the module's warden.
          provide: 'tokenwarden-demo-token-sink',
          useFactory: (warden: Warden) => tokens.attach(warden),
          inject: [getWardenToken()],
        },
        CustomersRepository,
        ConsentService,
      ],
    };
  }
}
