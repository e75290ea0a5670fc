import type { Context, Middleware } from 'koa';
import {
  jwksResponse,
  readTokenRequestBody,
  type JwkSet,
  type TokenEndpoint,
  type TokenEndpointResponse,
} from '@tokenwarden/core';

function send(ctx: Context, answer: TokenEndpointResponse): void {
  ctx.status = answer.status;
  ctx.set(answer.headers as Record<string, string>);
  ctx.body = answer.body;
}

/**
 * Serves an OAuth 2.0 token endpoint (core's `TokenEndpoint`: client credentials, and refresh
 * tokens when it has `refreshTokens`). Mount it on a router above `app.use(tw)`. Uses `ctx.request.body` when a body parser set it, else reads the
 * body itself.
 *
 * @example
 * open.post('/oauth/token', tokenEndpoint(new TokenEndpoint({ issuer, clientSecrets })));
 */
export function tokenEndpoint(endpoint: TokenEndpoint): Middleware {
  return async (ctx) => {
    const parsed = (ctx.request as { body?: unknown }).body;
    const body = parsed !== undefined ? parsed : await readTokenRequestBody(ctx.req);
    if (body === undefined) {
      send(ctx, {
        status: 400,
        headers: { 'cache-control': 'no-store' },
        body: { error: 'invalid_request', error_description: 'the body is too large' },
      });
      return;
    }
    send(
      ctx,
      await endpoint.handle({
        method: ctx.method,
        header: (name) => ctx.get(name) || undefined,
        body,
      }),
    );
  };
}

/**
 * Serves the public signing keys as a JWKS (`SigningKeyRing` is a source).
 *
 * @example
 * open.get('/.well-known/jwks.json', jwksHandler(ring));
 */
export function jwksHandler(source: { jwks(): JwkSet }): Middleware {
  return (ctx) => {
    send(ctx, jwksResponse(source));
  };
}
