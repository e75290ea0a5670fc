import express from 'express';
import { createWarden, TokenwardenDenial } from '@tokenwarden/core';
import { jwksHandler, tokenEndpoint, tokenwarden } from '@tokenwarden/express';
import { codeRequirement, okBody, routesFor, stepsFor } from '../app-spec';
import type { AdapterDriver, RouteSpec } from '../app-spec';
import { listen } from './listen';

/** The application's error handler: answers a denial with its status, headers and own body. */
const errorHandler: express.ErrorRequestHandler = (err, _req, res, next) => {
  if (!(err instanceof TokenwardenDenial)) return next(err);
  res.status(err.status).set(err.headers).json({ handled: err.code });
};

/**
 * Express: `app.use(tw)` plus bound route steps; public routes and token endpoints declared above
 * the line. With `bodyParsers`, `express.urlencoded()` and `express.json()` parse every body first.
 */
function expressDriverWith(bodyParsers: boolean): AdapterDriver {
  return {
    name: bodyParsers ? 'express+parsers' : 'express',
    async start(options, tokens, settings) {
      const warden = createWarden(options);
      const tw = tokenwarden(warden, settings?.errorHandler ? { onDeny: 'next' } : {});
      const app = express();
      if (bodyParsers) app.use(express.urlencoded(), express.json());
      const handler = (req: express.Request, res: express.Response) => {
        res.json(okBody(req.auth?.subject));
      };
      app.get('/metrics', tw.metricsHandler());
      for (const [path, endpoint] of Object.entries(tokens?.endpoints ?? {})) {
        app.post(path, tokenEndpoint(endpoint));
      }
      if (tokens) app.get('/.well-known/jwks.json', jwksHandler(tokens.jwks));
      const policyOnly = settings?.policyOnly === true;
      const open = (r: RouteSpec) => r.requirement?.public === true && !policyOnly;
      for (const r of routesFor(options).filter(open)) {
        app.get(r.path, tw.publicRoute(), handler);
      }
      app.use(tw);
      for (const r of routesFor(options).filter((r) => !open(r))) {
        const steps = stepsFor(codeRequirement(r, settings), tw);
        app[r.method === 'GET' ? 'get' : 'put'](r.path, ...steps, handler);
      }
      if (settings?.errorHandler) app.use(errorHandler);
      const server = await listen(app);
      return {
        server,
        warden,
        app,
        close: async () => {
          await new Promise<void>((resolve) => server.close(() => resolve()));
          await warden.close();
        },
      };
    },
  };
}

export const expressDriver = expressDriverWith(false);
export const expressParsedDriver = expressDriverWith(true);
