import { describe, expect, it } from '@jest/globals';
import {
  Controller,
  Get,
  Inject,
  Injectable,
  Module,
  UseGuards,
  type INestApplication,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import request from 'supertest';
import {
  ConfigError,
  MemorySink,
  type AuditSink,
  type Principal,
  type Warden,
  type WardenOptions,
} from '@tokenwarden/core';
import {
  Auth,
  Consent,
  getWardenToken,
  LawfulBasis,
  Public,
  Scopes,
  TokenwardenGuard,
  TokenwardenMetricsController,
  TokenwardenModule,
  type TokenwardenOptionsFactory,
} from '@tokenwarden/nest';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { bearer, PLATFORMS, settled, startApp } from './support';

const SETTINGS = Symbol('settings');

interface Settings {
  readonly purposes: string[];
  readonly sink: AuditSink;
}

@Module({
  providers: [{ provide: SETTINGS, useValue: { purposes: ['marketing'], sink: new MemorySink() } }],
  exports: [SETTINGS],
})
class SettingsModule {}

@Controller('profile')
class ProfileController {
  @Scopes('profile:read')
  @Consent('marketing')
  @Get()
  profile(@Auth() principal: Principal) {
    return { subject: principal.subject };
  }
}

/** A feature module guarding only its own controller, with @UseGuards. */
@Controller('orders')
@UseGuards(TokenwardenGuard)
class OrdersController {
  @LawfulBasis('contract')
  @Get()
  list(@Auth('subject') subject: string) {
    return { subject, orders: [] };
  }
}

@Controller('health')
class HealthController {
  @Get()
  health() {
    return { status: 'ok' };
  }
}

@Module({ controllers: [OrdersController] })
class OrdersModule {}

function options(sink: AuditSink, purposes: string[] = ['marketing']): WardenOptions {
  return {
    jwt: testJwtOptions(),
    purposes,
    audit: { sinks: [sink], fingerprintKey: 'f'.repeat(32) },
  };
}

describe.each(PLATFORMS)('TokenwardenModule on %s', (platform) => {
  it('forRootAsync builds the warden from injected settings, with a custom metrics path', async () => {
    let app: INestApplication | undefined;
    try {
      app = await startApp(
        {
          imports: [
            TokenwardenModule.forRootAsync({
              imports: [SettingsModule],
              inject: [SETTINGS],
              useFactory: (settings: Settings) => options(settings.sink, settings.purposes),
              metricsPath: '/internal/metrics',
            }),
          ],
          controllers: [ProfileController],
          providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
        },
        platform,
      );
      const http = request(app.getHttpServer());
      const token = mintToken({ claims: { scope: 'profile:read', sub: 'p-1' } });
      expect((await http.get('/profile').set(bearer(token))).body.code).toBe('consent_missing');
      expect((await http.get('/profile')).status).toBe(401);
      const metrics = await http.get('/internal/metrics');
      expect(metrics.status).toBe(200);
      expect(metrics.text).toContain('tokenwarden_decisions_total');
      expect((await http.get('/metrics')).status).toBe(404);
    } finally {
      await app?.close();
    }
  });

  it('forRootAsync takes an options class', async () => {
    @Injectable()
    class WardenConfig implements TokenwardenOptionsFactory {
      constructor(@Inject(SETTINGS) private readonly settings: Settings) {}
      createTokenwardenOptions(): WardenOptions {
        return options(this.settings.sink, this.settings.purposes);
      }
    }
    const app = await startApp(
      {
        imports: [
          TokenwardenModule.forRootAsync({
            imports: [SettingsModule],
            useClass: WardenConfig,
            metricsPath: false,
          }),
        ],
        controllers: [ProfileController],
        providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
      },
      platform,
    );
    try {
      const http = request(app.getHttpServer());
      expect((await http.get('/profile')).status).toBe(401);
      expect((await http.get('/metrics')).status).toBe(404);
    } finally {
      await app.close();
    }
  });

  it('guards a feature module with @UseGuards, leaving its other routes alone', async () => {
    const sink = new MemorySink();
    const app = await startApp(
      {
        imports: [TokenwardenModule.forRoot(options(sink)), OrdersModule],
        controllers: [HealthController],
      },
      platform,
    );
    try {
      const http = request(app.getHttpServer());
      expect((await http.get('/health')).status).toBe(200);
      expect((await http.get('/orders')).status).toBe(401);
      const ok = await http.get('/orders').set(bearer(mintToken({ claims: { sub: 'o-1' } })));
      expect(ok.body).toEqual({ subject: 'o-1', orders: [] });
    } finally {
      await app.close();
    }
  });

  it('checks and audits once when the guard is both global and on the route', async () => {
    const sink = new MemorySink();
    const app = await startApp(
      {
        imports: [TokenwardenModule.forRoot(options(sink)), OrdersModule],
        providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
      },
      platform,
    );
    try {
      const http = request(app.getHttpServer());
      await http.get('/orders').set(bearer(mintToken())).set('x-request-id', 'twice-1');
      await http.get('/orders').set('x-request-id', 'twice-2');
      await settled(app.get<Warden>(getWardenToken()));
      expect(sink.events.filter((e) => e.requestId === 'twice-1')).toHaveLength(1);
      expect(sink.events.filter((e) => e.requestId === 'twice-2')).toHaveLength(1);
    } finally {
      await app.close();
    }
  });

  it('fails at start-up on a purpose the warden does not declare', async () => {
    @Controller('typo')
    class TypoController {
      @Consent('marketting')
      @Get()
      typo() {
        return {};
      }
    }
    const sink = new MemorySink();
    const started = startApp(
      {
        imports: [TokenwardenModule.forRoot(options(sink))],
        controllers: [TypoController],
        providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
      },
      platform,
    );
    await expect(started).rejects.toThrow(ConfigError);
    await expect(started).rejects.toThrow(
      /TypoController\.typo: requireConsent: purpose 'marketting' is not declared/,
    );
  });

  it('fails at start-up on consent and another basis on one route, or a bad scope', async () => {
    @Public()
    @Controller('both')
    class BothController {
      @Consent('marketing')
      @LawfulBasis('contract')
      @Get()
      both() {
        return {};
      }
    }
    @Controller('scope')
    class ScopeController {
      @Scopes('has space')
      @Get()
      scope() {
        return {};
      }
    }
    for (const controller of [BothController, ScopeController]) {
      await expect(
        startApp(
          {
            imports: [TokenwardenModule.forRoot(options(new MemorySink()))],
            controllers: [controller],
          },
          platform,
        ),
      ).rejects.toThrow(ConfigError);
    }
  });

  it('closes the warden it created on application shutdown, flushing the audit trail', async () => {
    const sink = new MemorySink();
    let closed = 0;
    const app = await startApp(
      {
        imports: [
          TokenwardenModule.forRoot({
            ...options(sink),
            audit: {
              sinks: [sink, { write: async () => {}, close: async () => void closed++ }],
              fingerprintKey: 'f'.repeat(32),
            },
          }),
        ],
        controllers: [ProfileController],
        providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
      },
      platform,
    );
    await request(app.getHttpServer()).get('/profile').set('x-request-id', 'last-1');
    await app.close();
    expect(closed).toBe(1);
    expect(sink.events.some((e) => e.requestId === 'last-1')).toBe(true);
  });
});

describe('TokenwardenMetricsController', () => {
  it('can be mounted by the user under another path', async () => {
    @Controller('ops/metrics')
    class OpsMetricsController extends TokenwardenMetricsController {}
    const app = await startApp(
      {
        imports: [TokenwardenModule.forRoot({ ...options(new MemorySink()), metricsPath: false })],
        controllers: [OpsMetricsController],
        providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
      },
      'express',
    );
    try {
      const res = await request(app.getHttpServer()).get('/ops/metrics');
      expect(res.status).toBe(200);
      expect(res.text).toContain('tokenwarden_');
    } finally {
      await app.close();
    }
  });
});
