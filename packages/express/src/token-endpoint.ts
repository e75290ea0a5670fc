import type { Request, RequestHandler, Response } from 'express';
import {
  jwksResponse,
  readTokenRequestBody,
  type JwkSet,
  type TokenEndpoint,
  type TokenEndpointResponse,
} from '@tokenwarden/core';

function send(res: Response, answer: TokenEndpointResponse): void {
  res.status(answer.status).set(answer.headers).json(answer.body);
}

/**
 * Serves an OAuth 2.0 token endpoint (core's `TokenEndpoint`: client credentials, and refresh
 * tokens when it has `refreshTokens`). Mount it above `app.use(tw)`: clients call it without a
 * token. Reads the body itself unless a body parser already did.
 *
 * @example
 * app.post('/oauth/token', tokenEndpoint(new TokenEndpoint({ issuer, clientSecrets })));
 */
export function tokenEndpoint(endpoint: TokenEndpoint): RequestHandler {
  return async (req: Request, res: Response, next) => {
    try {
      const body = req.body !== undefined ? (req.body as unknown) : await readTokenRequestBody(req);
      const answer = await endpoint.handle({
        method: req.method,
        header: (name) => req.get(name),
        body: body ?? null,
      });
      send(res, body === undefined ? { ...answer, ...TOO_LARGE } : answer);
    } catch (error) {
      next(error);
    }
  };
}

const TOO_LARGE = {
  status: 400,
  body: { error: 'invalid_request', error_description: 'the body is too large' },
};

/**
 * Serves the public signing keys as a JWKS (`SigningKeyRing` is a source).
 *
 * @example
 * app.get('/.well-known/jwks.json', jwksHandler(ring));
 */
export function jwksHandler(source: { jwks(): JwkSet }): RequestHandler {
  return (_req, res) => send(res, jwksResponse(source));
}
