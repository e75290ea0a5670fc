import express from 'express';
import { createWarden } from '@tokenwarden/core';
import { tokenwarden } from '@tokenwarden/express';
import { okBody, routesFor, stepsFor, type AdapterDriver } from '../app-spec';
import { listen } from './listen';

/** Express: `app.use(tw)` plus bound route steps; public routes declared above the line. */
export const expressDriver: AdapterDriver = {
  name: 'express',
  async start(options) {
    const warden = createWarden(options);
    const tw = tokenwarden(warden);
    const app = express();
    const handler = (req: express.Request, res: express.Response) => {
      res.json(okBody(req.auth?.subject));
    };
    app.get('/metrics', tw.metricsHandler());
    for (const r of routesFor(options).filter((r) => r.requirement?.public)) {
      app.get(r.path, tw.publicRoute(), handler);
    }
    app.use(tw);
    for (const r of routesFor(options).filter((r) => !r.requirement?.public)) {
      app[r.method === 'GET' ? 'get' : 'put'](r.path, ...stepsFor(r.requirement, tw), handler);
    }
    const server = await listen(app);
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
