import { Controller, Get, Inject, Post, Req, Res, SetMetadata, type Type } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import {
  answerTokenRequest,
  jwksAnswer,
  type HandlerAnswer,
  type JwkSet,
  type ParsedTokenBody,
  type TokenEndpoint,
  type TokenHttpRequest,
} from '@tokenwarden/core/internal';
import { EXEMPT_METADATA } from './tokens';

/** Options of {@link tokenEndpointController}. */
export interface TokenEndpointControllerOptions {
  /** The core token endpoint. */
  readonly endpoint: TokenEndpoint;
  /** Path of the token endpoint. Default: `'oauth/token'`. */
  readonly path?: string;
  /** Public keys to serve as a JWKS (a `SigningKeyRing`). Default: none. */
  readonly jwks?: { jwks(): JwkSet };
  /** Path of the JWKS. Default: `'.well-known/jwks.json'`. */
  readonly jwksPath?: string;
}

/**
 * The request as either platform hands it over: Express's is the Node request, with the parsed
 * body on it; Fastify's keeps the Node request in `raw` and the parsed body on itself.
 */
type RequestLike = TokenHttpRequest & ParsedTokenBody & { readonly raw?: TokenHttpRequest };

/**
 * A controller serving the token endpoint (client credentials, and refresh tokens when the core
 * endpoint has `refreshTokens`) and optionally the JWKS, open to clients without a token:
 * `TokenwardenGuard` lets it through, the endpoint audits its own events. It answers as the
 * Express and Koa adapters do (core's `answerTokenRequest`): form or JSON bodies of at most
 * 8 KiB, whatever the platform's body parser accepted, no repeated parameters, and a generic
 * `500 server_error` (never a stack trace) when a store or revoker throws. Both platforms parse
 * form and JSON bodies out of the box.
 *
 * @example
 * @Module({ controllers: [tokenEndpointController({ endpoint, jwks: ring })] })
 */
export function tokenEndpointController(options: TokenEndpointControllerOptions): Type<unknown> {
  const path = options.path ?? 'oauth/token';
  const jwksPath = options.jwksPath ?? '.well-known/jwks.json';

  @SetMetadata(EXEMPT_METADATA, true)
  @Controller()
  class TokenwardenTokenController {
    constructor(@Inject(HttpAdapterHost) private readonly host: HttpAdapterHost) {}

    async token(request: RequestLike, response: unknown): Promise<unknown> {
      const node = request.raw ?? request;
      return this.send(response, await answerTokenRequest(options.endpoint, node, request));
    }

    keys(response: unknown): unknown {
      if (!options.jwks) return this.send(response, { status: 404, headers: {}, body: {} });
      return this.send(response, jwksAnswer(options.jwks));
    }

    private send(response: unknown, answer: HandlerAnswer): unknown {
      const adapter = this.host.httpAdapter;
      adapter.status(response, answer.status);
      for (const [name, value] of Object.entries(answer.headers)) {
        adapter.setHeader(response, name, value);
      }
      return answer.body;
    }
  }
  const proto = TokenwardenTokenController.prototype;
  Req()(proto, 'token', 0);
  Res({ passthrough: true })(proto, 'token', 1);
  Post(path)(proto, 'token', Object.getOwnPropertyDescriptor(proto, 'token')!);
  if (options.jwks) {
    Res({ passthrough: true })(proto, 'keys', 0);
    Get(jwksPath)(proto, 'keys', Object.getOwnPropertyDescriptor(proto, 'keys')!);
  }
  return TokenwardenTokenController;
}
