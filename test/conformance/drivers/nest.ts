import 'reflect-metadata';
import {
  Catch,
  Controller,
  Get,
  Module,
  Put,
  type ArgumentsHost,
  type ExceptionFilter,
  type HttpServer,
  type INestApplication,
} from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { createWarden, type Principal } from '@tokenwarden/core';
import {
  AnyScope,
  Auth,
  ClaimCheck,
  ClaimEquals,
  ClaimIncludes,
  Consent,
  LawfulBasis,
  Public,
  RequireDpop,
  Scopes,
  TokenwardenException,
  tokenEndpointController,
  TokenwardenGuard,
  TokenwardenModule,
} from '@tokenwarden/nest';
import { codeRequirement, okBody, routesFor } from '../app-spec';
import type { AdapterDriver, AppSettings, RouteSpec } from '../app-spec';

type Decorate = (target: object, key: string, descriptor: PropertyDescriptor) => unknown;

/** A controller with one handler per route of the table, decorated as a user would. */
function conformanceController(
  routes: readonly RouteSpec[],
  settings?: AppSettings,
): new () => object {
  class ConformanceController {}
  const proto = ConformanceController.prototype as unknown as Record<string, unknown>;
  routes.forEach((route, i) => {
    const key = `route${i}`;
    proto[key] = (auth: Principal | undefined) => okBody(auth?.subject);
    const decorators: Decorate[] = [route.method === 'GET' ? Get(route.path) : Put(route.path)];
    const req = codeRequirement(route, settings);
    if (req?.public) decorators.push(Public());
    if (req?.dpop) decorators.push(RequireDpop());
    if (req?.scopes) decorators.push(Scopes(...req.scopes));
    if (req?.anyScopes) decorators.push(AnyScope(...req.anyScopes));
    for (const claim of req?.claims ?? []) {
      if ('check' in claim) decorators.push(ClaimCheck(claim.check));
      else if ('equals' in claim) decorators.push(ClaimEquals(claim.claim, claim.equals));
      else decorators.push(ClaimIncludes(claim.claim, ...claim.includes));
    }
    if (req?.consent) decorators.push(Consent(req.consent.purpose, req.consent));
    if (req?.lawfulBasis) decorators.push(LawfulBasis(req.lawfulBasis.basis, req.lawfulBasis));
    for (const decorate of decorators) {
      decorate(proto, key, Object.getOwnPropertyDescriptor(proto, key)!);
    }
    Auth()(proto, key, 0);
  });
  Controller()(ConformanceController);
  return ConformanceController;
}

/**
 * The application's exception filter: answers a denial with its status and own body (the guard
 * has set the denial's headers on the response already).
 */
@Catch(TokenwardenException)
class DenialFilter implements ExceptionFilter {
  constructor(private readonly http: HttpServer) {}

  catch(exception: TokenwardenException, host: ArgumentsHost): void {
    const response = host.switchToHttp().getResponse<unknown>();
    this.http.reply(response, { handled: exception.code }, exception.getStatus());
  }
}

/**
 * Nest on one platform, with its body parsers (the default) or without (`bodyParser: false`,
 * platform-express only: Fastify then still parses JSON and refuses form bodies with 415).
 */
function nestDriver(platform: 'express' | 'fastify', bodyParser = true): AdapterDriver {
  return {
    name: `nest-${platform}${bodyParser ? '' : ' (no parser)'}`,
    async start(options, tokens, settings) {
      const warden = createWarden(options);
      const tokenControllers = Object.entries(tokens?.endpoints ?? {}).map(([path, endpoint], i) =>
        tokenEndpointController({ endpoint, path, ...(i === 0 ? { jwks: tokens?.jwks } : {}) }),
      );
      @Module({
        imports: [TokenwardenModule.forRoot({ warden })],
        controllers: [...tokenControllers, conformanceController(routesFor(options), settings)],
        providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }],
      })
      class ConformanceModule {}
      let app: INestApplication;
      if (platform === 'fastify') {
        const fastify = await NestFactory.create<NestFastifyApplication>(
          ConformanceModule,
          new FastifyAdapter(),
          { logger: false, bodyParser },
        );
        if (settings?.errorHandler)
          fastify.useGlobalFilters(new DenialFilter(fastify.getHttpAdapter()));
        await fastify.listen(0, '127.0.0.1');
        app = fastify;
      } else {
        app = await NestFactory.create(ConformanceModule, { logger: false, bodyParser });
        if (settings?.errorHandler) app.useGlobalFilters(new DenialFilter(app.getHttpAdapter()));
        await app.listen(0, '127.0.0.1');
      }
      return {
        server: app.getHttpServer(),
        warden,
        app,
        close: async () => {
          await app.close();
          await warden.close();
        },
      };
    },
  };
}

export const nestExpressDriver = nestDriver('express');
export const nestExpressUnparsedDriver = nestDriver('express', false);
export const nestFastifyDriver = nestDriver('fastify');
