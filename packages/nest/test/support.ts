import {
  Catch,
  Controller,
  Get,
  Inject,
  Injectable,
  Param,
  Post,
  Put,
  UseFilters,
  UseGuards,
  type ArgumentsHost,
  type CanActivate,
  type ExceptionFilter,
  type ExecutionContext,
  type INestApplication,
  type ModuleMetadata,
} from '@nestjs/common';
import { APP_GUARD, HttpAdapterHost } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import type { Logger, Principal, Warden, WardenStore } from '@tokenwarden/core';
import {
  Auth,
  Consent,
  InjectWarden,
  LawfulBasis,
  Public,
  Scopes,
  TokenwardenException,
  TokenwardenGuard,
  type TokenwardenRequest,
} from '@tokenwarden/nest';

export const PLATFORMS = ['express', 'fastify'] as const;
export type Platform = (typeof PLATFORMS)[number];

/** Swallows the warden's store-failure logs in tests that make the store fail on purpose. */
export const quietLogger: Logger = { warn: () => {}, error: () => {} };

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** The `jti` of a test token. */
export function tokenIdOf(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
    jti: string;
  };
  return payload.jti;
}

/** A store that is down: every call rejects (the warden must fail closed). */
export class RejectingStore implements WardenStore {
  private fail(): Promise<never> {
    return Promise.reject(new Error('connection refused'));
  }
  lookup = () => this.fail();
  revokeToken = () => this.fail();
  setNotBefore = () => this.fail();
  grantConsent = () => this.fail();
  withdrawConsent = () => this.fail();
  getConsent = () => this.fail();
  consentRecords = () => this.fail();
  eraseConsent = () => this.fail();
  close = async () => {};
}

/** Revokes from application code, through the injected warden. */
@Injectable()
export class SessionService {
  constructor(@InjectWarden() private readonly warden: Warden) {}

  async logout(principal: Principal): Promise<void> {
    await this.warden.revokeToken(principal.tokenId, {
      expiresAt: principal.expiresAt,
      actor: 'session-service',
      reason: 'logout',
    });
  }
}

@Scopes('customers:read')
@Controller('customers')
export class CustomersController {
  @Get(':id')
  findOne(@Param('id') id: string, @Auth() principal: Principal) {
    return { id, by: principal.subject };
  }

  // The handler's scopes replace the controller's.
  @Scopes('customers:write')
  @Put(':id')
  update(@Param('id') id: string) {
    return { id, updated: true };
  }

  @Scopes('marketing:read')
  @Consent('marketing', { subject: { param: 'id' } })
  @Get(':id/profile')
  profile(@Param('id') id: string) {
    return { id, segments: ['books'] };
  }

  @Scopes()
  @Get(':id/summary')
  summary(@Param('id') id: string) {
    return { id };
  }
}

/** The team guard runs after the global Tokenwarden guard and reads what it set. */
export const guardOrder: string[] = [];

@Injectable()
export class TeamGuard implements CanActivate {
  canActivate(context: ExecutionContext): boolean {
    const request = context.switchToHttp().getRequest<TokenwardenRequest>();
    guardOrder.push(request.auth ? `team:${request.auth.subject}` : 'team:anonymous');
    return request.auth?.claims.team === 'red';
  }
}

@Controller()
export class MiscController {
  constructor(@Inject(SessionService) private readonly sessions: SessionService) {}

  @LawfulBasis('legal_obligation', { purpose: 'billing' })
  @Get('invoices')
  invoices() {
    return [];
  }

  @Public()
  @Get('open')
  open(@Auth() principal: Principal | undefined) {
    return { who: principal?.subject ?? null };
  }

  @Get('me/subject')
  subject(@Auth('subject') subject: string, @Auth('scopes') scopes: readonly string[]) {
    return { subject, scopes };
  }

  @Post('logout')
  async logout(@Auth() principal: Principal) {
    await this.sessions.logout(principal);
    return { revoked: principal.tokenId };
  }

  @UseGuards(TeamGuard)
  @Get('team')
  team(@Auth('subject') subject: string) {
    return { team: 'red', subject };
  }

  @Get('status')
  status(@Auth() principal: Principal | undefined) {
    return { who: principal?.subject ?? null };
  }
}

@Public()
@Controller('catalog')
export class CatalogController {
  @Get()
  list(@Auth() principal: Principal | undefined) {
    return { who: principal?.subject ?? null };
  }

  // Closed again inside a public controller.
  @Public(false)
  @Scopes('catalog:write')
  @Get('drafts')
  drafts() {
    return { drafts: [] };
  }
}

/** What a user's exception filter saw. */
export const filtered: { code: string; status: number }[] = [];

/** A user's filter: sees the TokenwardenException, adds a trace id, keeps the problem shape. */
@Catch(TokenwardenException)
export class TraceFilter implements ExceptionFilter {
  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

  catch(exception: TokenwardenException, host: ArgumentsHost): void {
    filtered.push({ code: exception.code, status: exception.getStatus() });
    const response = host.switchToHttp().getResponse<unknown>();
    this.adapterHost.httpAdapter.reply(
      response,
      { ...exception.getResponse(), traceId: 'trace-1' },
      exception.getStatus(),
    );
  }
}

@UseFilters(TraceFilter)
@Scopes('reports:read')
@Controller('reports')
export class ReportsController {
  @Get()
  list() {
    return [];
  }
}

/** Consent on the controller; a handler's lawful basis replaces it. */
@Consent('marketing')
@Controller('newsletter')
export class NewsletterController {
  @Get()
  mine() {
    return { subscribed: true };
  }

  @LawfulBasis('legitimate_interests', { purpose: 'billing' })
  @Get('imprint')
  imprint() {
    return { imprint: true };
  }
}

export const ALL_CONTROLLERS = [
  CustomersController,
  MiscController,
  CatalogController,
  ReportsController,
  NewsletterController,
];

/** The usual set-up: the module, the guard as APP_GUARD, the service and the test controllers. */
export function appMetadata(imports: ModuleMetadata['imports']): ModuleMetadata {
  return {
    imports,
    controllers: ALL_CONTROLLERS,
    providers: [{ provide: APP_GUARD, useClass: TokenwardenGuard }, SessionService, TeamGuard],
  };
}

/** Compiles `metadata` and starts it on `platform` (without listening; supertest binds a port). */
export async function startApp(
  metadata: ModuleMetadata,
  platform: Platform,
): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule(metadata).compile();
  if (platform === 'fastify') {
    const app = moduleRef.createNestApplication<NestFastifyApplication>(new FastifyAdapter(), {
      logger: false,
    });
    await app.init();
    await app.getHttpAdapter().getInstance().ready();
    return app;
  }
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

/** Lets response 'close' handlers run, then waits for the audit queue. */
export async function settled(warden: Warden): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve));
  await warden.flushAudit();
}
