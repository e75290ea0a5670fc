import { Inject, Injectable, type CanActivate, type ExecutionContext } from '@nestjs/common';
import { HttpAdapterHost, Reflector } from '@nestjs/core';
import {
  settleNowOrLater,
  type Access,
  type Decision,
  type DenyDecision,
  type HeldResponse,
  type RequestView,
  type Warden,
} from '@tokenwarden/core/internal';
import type { TokenwardenRequest } from './decorators';
import { requestViewOf, type HttpRequestLike } from './request-view';
import { EXEMPT, routeRequirement } from './route-requirement';
import { TokenwardenException } from './tokenwarden.exception';
import { TOKENWARDEN_WARDEN } from './tokens';

const DECISION = Symbol.for('tokenwarden.nest.decision');
type GuardedRequest = HttpRequestLike & TokenwardenRequest & { [DECISION]?: Decision };

/** The Node response under a platform's response, to record (or hold) what is sent. */
function nodeResponse(response: unknown): HeldResponse | undefined {
  if (response === null || typeof response !== 'object') return undefined;
  // Fastify's reply wraps the Node response in `raw`; Express's response is one.
  const raw = (response as { raw?: unknown }).raw ?? response;
  const candidate = raw as Partial<HeldResponse>;
  return typeof candidate.on === 'function' &&
    typeof candidate.end === 'function' &&
    typeof candidate.getHeaderNames === 'function'
    ? (raw as HeldResponse)
    : undefined;
}

/**
 * Enforces Tokenwarden on HTTP routes, on Express and Fastify alike. Use it globally
 * (`{ provide: APP_GUARD, useClass: TokenwardenGuard }`) or per controller or handler
 * (`@UseGuards(TokenwardenGuard)`); the route's `@Scopes`, `@Consent`, `@LawfulBasis` and
 * `@Public` decorators say what it requires. Every decision is the core's: an allow sets
 * `request.auth`, a denial throws a {@link TokenwardenException} with the core's status and
 * problem+json body after setting its headers on the response. One audit event per request.
 *
 * GraphQL or WebSocket users subclass it and override {@link TokenwardenGuard.getRequest},
 * {@link TokenwardenGuard.getResponse} and {@link TokenwardenGuard.onDeny}.
 */
@Injectable()
export class TokenwardenGuard implements CanActivate {
  constructor(
    @Inject(TOKENWARDEN_WARDEN) protected readonly warden: Warden,
    @Inject(Reflector) protected readonly reflector: Reflector,
    @Inject(HttpAdapterHost) protected readonly adapterHost: HttpAdapterHost,
  ) {}

  canActivate(context: ExecutionContext): boolean | Promise<boolean> {
    const requirement = routeRequirement(this.reflector, context.getHandler(), context.getClass());
    if (requirement === EXEMPT) return true;
    const request = this.getRequest(context) as GuardedRequest;
    // The same guard registered twice (globally and on a route) checks and audits once.
    const decided = request[DECISION];
    if (decided !== undefined) return this.conclude(decided, request, context);
    // Warm requests are decided without a promise.
    const pending = this.warden.beginNow(this.toView(request), requirement);
    return settleNowOrLater(pending, TokenwardenGuard.admit, this, request, context);
  }

  /** Ties a fresh access to the response, then concludes on its decision (now or later). */
  private static admit(
    access: Access,
    guard: TokenwardenGuard,
    request: GuardedRequest,
    context: ExecutionContext,
  ): boolean | Promise<boolean> {
    const tracked = guard.trackResponse(access, context);
    return settleNowOrLater(tracked, TokenwardenGuard.decided, guard, request, context);
  }

  /** Remembers the decision (a guard registered twice checks once) and acts on it. */
  private static decided(
    decision: Decision,
    guard: TokenwardenGuard,
    request: GuardedRequest,
    context: ExecutionContext,
  ): boolean {
    request[DECISION] = decision;
    return guard.conclude(decision, request, context);
  }

  private conclude(
    decision: Decision,
    request: GuardedRequest,
    context: ExecutionContext,
  ): boolean {
    if (decision.outcome === 'deny') return this.onDeny(decision, context);
    request.auth = decision.principal;
    if (decision.headers !== undefined) this.setHeaders(decision.headers, context);
    return true;
  }

  /** The request to check. Default: the HTTP request; override for GraphQL or WebSockets. */
  protected getRequest(context: ExecutionContext): HttpRequestLike {
    if (context.getType() !== 'http') {
      throw new Error(
        `TokenwardenGuard checks HTTP requests; for '${context.getType()}' contexts subclass it and override getRequest() and onDeny()`,
      );
    }
    return context.switchToHttp().getRequest<HttpRequestLike>();
  }

  /**
   * The response whose final status goes into the allow's audit event, or `undefined` to record
   * the allow at once. Default: the HTTP response.
   */
  protected getResponse(context: ExecutionContext): unknown {
    return context.getType() === 'http' ? context.switchToHttp().getResponse<unknown>() : undefined;
  }

  /** Turns the request into the core's view. Override for request shapes other than Express or Fastify. */
  protected toView(request: HttpRequestLike): RequestView {
    return requestViewOf(request);
  }

  /**
   * Answers a denial. Default: sets the decision's headers on the HTTP response (through the
   * platform's adapter) and throws a {@link TokenwardenException}. Override it to throw your own
   * exception (e.g. a `GraphQLError` carrying `decision.code`).
   */
  protected onDeny(decision: DenyDecision, context: ExecutionContext): boolean {
    this.setHeaders(decision.headers, context);
    throw new TokenwardenException(decision);
  }

  /** Sets headers on the HTTP response through the platform's adapter. */
  private setHeaders(headers: Readonly<Record<string, string>>, context: ExecutionContext): void {
    const response = this.getResponse(context);
    const adapter = this.adapterHost.httpAdapter;
    if (response === undefined || !adapter) return;
    for (const [name, value] of Object.entries(headers)) adapter.setHeader(response, name, value);
  }

  /**
   * Records the allow when the response is sent, with its status, as the Express adapter does; in
   * audit mode `'sync'` the response waits for the event. Without a Node response (GraphQL,
   * WebSockets) the allow is recorded at once, and in mode `'sync'` the guard waits for it.
   */
  private trackResponse(access: Access, context: ExecutionContext): Decision | Promise<Decision> {
    const response = nodeResponse(this.getResponse(context));
    if (response) {
      this.warden.track(response, access);
      return access.decision;
    }
    return this.settleNow(access);
  }

  /** Records the allow at once; in mode `'sync'` waits for it. */
  private async settleNow(access: Access): Promise<Decision> {
    return this.warden.conclude(access);
  }
}
