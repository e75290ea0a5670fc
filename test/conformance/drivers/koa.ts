import Router from '@koa/router';
import Koa from 'koa';
import { createWarden } from '@tokenwarden/core';
import { tokenwarden } from '@tokenwarden/koa';
import { okBody, ROUTES, type AdapterDriver } from '../app-spec';
import { listen } from './listen';

/** Koa: public routes on a router above `app.use(tw)`, the rest with bound route steps. */
export const koaDriver: AdapterDriver = {
  name: 'koa',
  async start(options) {
    const warden = createWarden(options);
    const tw = tokenwarden(warden);
    const app = new Koa();
    const open = new Router();
    const closed = new Router();
    const handler = (ctx: Koa.Context) => {
      ctx.body = okBody(ctx.state.auth?.subject);
    };
    open.get('/metrics', tw.metricsHandler());
    for (const r of ROUTES.filter((r) => r.requirement?.public)) {
      open.get(r.path, tw.publicRoute(), handler);
    }
    for (const r of ROUTES.filter((r) => !r.requirement?.public)) {
      const req = r.requirement ?? {};
      const steps = [];
      if (req.scopes) steps.push(tw.requireScopes(...req.scopes));
      if (req.consent) steps.push(tw.requireConsent(req.consent.purpose, req.consent));
      if (req.lawfulBasis) steps.push(tw.lawfulBasis(req.lawfulBasis.basis, req.lawfulBasis));
      closed[r.method === 'GET' ? 'get' : 'put'](r.path, ...steps, handler);
    }
    app.use(open.routes());
    app.use(tw);
    app.use(closed.routes());
    const server = await listen(app.callback());
    return {
      server,
      warden,
      close: async () => {
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await warden.close();
      },
    };
  },
};
