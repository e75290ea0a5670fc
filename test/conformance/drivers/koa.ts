import Router from '@koa/router';
import Koa from 'koa';
import { createWarden, TokenwardenDenial } from '@tokenwarden/core';
import { jwksHandler, tokenEndpoint, tokenwarden } from '@tokenwarden/koa';
import { codeRequirement, okBody, routesFor, stepsFor } from '../app-spec';
import type { AdapterDriver, RouteSpec } from '../app-spec';
import { listen } from './listen';

/**
 * A body parser as @koa/bodyparser behaves: JSON and form bodies (up to 1 MB) are read and parsed
 * into `ctx.request.body`, a repeated form parameter into an array; other types are left unread,
 * with an empty object as the body.
 */
async function bodyParser(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  const request = ctx.request as Koa.Request & { body?: unknown };
  const type = ctx.request.is('json', 'urlencoded');
  if (type === false || type === null) {
    request.body = {};
    return next();
  }
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.req) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (Buffer.byteLength(text) > 1_000_000) ctx.throw(413);
  if (type === 'json') {
    request.body = JSON.parse(text) as unknown;
  } else {
    const form: Record<string, string | string[]> = {};
    for (const [name, value] of new URLSearchParams(text)) {
      const seen = form[name];
      form[name] = seen === undefined ? value : [...(Array.isArray(seen) ? seen : [seen]), value];
    }
    request.body = form;
  }
  return next();
}

/** The application's error middleware: answers a denial with its status, headers and own body. */
async function errorMiddleware(ctx: Koa.Context, next: Koa.Next): Promise<void> {
  try {
    await next();
  } catch (error) {
    if (!(error instanceof TokenwardenDenial)) throw error;
    ctx.status = error.status;
    ctx.set(error.headers);
    ctx.body = { handled: error.code };
  }
}

/**
 * Koa: public routes and token endpoints on a router above `app.use(tw)`, the rest with bound
 * route steps. With `bodyParsers`, token requests go through a body parser first.
 */
function koaDriverWith(bodyParsers: boolean): AdapterDriver {
  return {
    name: bodyParsers ? 'koa+parser' : 'koa',
    async start(options, tokens, settings) {
      const warden = createWarden(options);
      const tw = tokenwarden(warden, settings?.errorHandler ? { onDeny: 'throw' } : {});
      const app = new Koa();
      if (settings?.errorHandler) app.use(errorMiddleware);
      const open = new Router();
      const closed = new Router();
      const handler = (ctx: Koa.Context) => {
        ctx.body = okBody(ctx.state.auth?.subject);
      };
      open.get('/metrics', tw.metricsHandler());
      for (const [path, endpoint] of Object.entries(tokens?.endpoints ?? {})) {
        if (bodyParsers) open.post(path, bodyParser, tokenEndpoint(endpoint));
        else open.post(path, tokenEndpoint(endpoint));
      }
      if (tokens) open.get('/.well-known/jwks.json', jwksHandler(tokens.jwks));
      const policyOnly = settings?.policyOnly === true;
      const isOpen = (r: RouteSpec) => r.requirement?.public === true && !policyOnly;
      for (const r of routesFor(options).filter(isOpen)) {
        open.get(r.path, tw.publicRoute(), handler);
      }
      for (const r of routesFor(options).filter((r) => !isOpen(r))) {
        const steps = stepsFor(codeRequirement(r, settings), tw);
        closed[r.method === 'GET' ? 'get' : 'put'](r.path, ...steps, handler);
      }
      app.use(open.routes());
      app.use(tw);
      app.use(closed.routes());
      const server = await listen(app.callback());
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

export const koaDriver = koaDriverWith(false);
export const koaParsedDriver = koaDriverWith(true);
