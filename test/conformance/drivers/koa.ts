import Router from '@koa/router';
import Koa from 'koa';
import { createWarden } from '@tokenwarden/core';
import { tokenwarden } from '@tokenwarden/koa';
import { okBody, routesFor, stepsFor, type AdapterDriver } from '../app-spec';
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
    for (const r of routesFor(options).filter((r) => r.requirement?.public)) {
      open.get(r.path, tw.publicRoute(), handler);
    }
    for (const r of routesFor(options).filter((r) => !r.requirement?.public)) {
      closed[r.method === 'GET' ? 'get' : 'put'](r.path, ...stepsFor(r.requirement, tw), handler);
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
