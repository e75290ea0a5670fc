// The customers API on several processes (Node cluster) with one /metrics for all of them.
//
// Each worker gives its warden a registry of its own and hands it to prom-client's cluster
// support (AggregatorRegistry.setRegistries); the primary answers GET /metrics with the sum over
// every worker, so Prometheus scrapes one target and sees whole-service counts.
//
// Environment: PORT (API, default 3000), METRICS_PORT (primary's /metrics, default 9464), HOST
// (default 127.0.0.1), WORKERS (default: the number of CPUs), REDIS_URL (share revocations and
// consent between workers; without it each worker has its own MemoryStore), DEMO_JWT_SECRET.
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { availableParallelism } from 'node:os';
import express from 'express';
import { AggregatorRegistry, Registry } from 'prom-client';
import { tokenwarden } from '@tokenwarden/express';
import { demoAppParts, seedData, storeFromEnv } from '@tokenwarden/example-shared';

const host = process.env.HOST ?? '127.0.0.1';
const port = Number(process.env.PORT ?? 3000);
const metricsPort = Number(process.env.METRICS_PORT ?? 9464);

if (cluster.isPrimary) {
  await primary(Number(process.env.WORKERS ?? availableParallelism()));
} else {
  await worker();
}

/** Forks the workers and serves their aggregated metrics. */
async function primary(workers: number): Promise<void> {
  // Every worker must verify the tokens any worker issued: one demo secret for all of them.
  const secret = process.env.DEMO_JWT_SECRET ?? randomBytes(32).toString('base64url');
  const aggregator = new AggregatorRegistry();
  const metrics = createServer((req, res) => {
    if (req.method !== 'GET' || req.url !== '/metrics') {
      res.writeHead(404).end();
      return;
    }
    aggregator.clusterMetrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': aggregator.contentType }).end(text);
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`could not collect the workers' metrics: ${String(error)}`);
      },
    );
  });
  await new Promise<void>((resolve) => metrics.listen(metricsPort, host, resolve));

  let listening = 0;
  cluster.on('listening', () => {
    listening += 1;
    if (listening === workers) {
      console.log(
        `customers API: ${workers} workers on http://${host}:${port}, ` +
          `metrics of all of them on http://${host}:${metricsPort}/metrics`,
      );
    }
  });
  cluster.on('exit', (dead, code, signal) => {
    if (!dead.exitedAfterDisconnect) {
      console.error(`worker ${dead.id} died (${signal ?? code}); starting another`);
      cluster.fork({ DEMO_JWT_SECRET: secret });
    }
  });
  for (let i = 0; i < workers; i += 1) cluster.fork({ DEMO_JWT_SECRET: secret });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      metrics.close();
      cluster.disconnect(() => process.exit(0));
    });
  }
}

/** One worker: the API with a warden whose metrics go to a registry prom-client aggregates. */
async function worker(): Promise<void> {
  const registry = new Registry();
  AggregatorRegistry.setRegistries([registry]);
  // prom-client 15 installs the worker's side of the IPC exchange (answering the primary's
  // request for metrics) only in the AggregatorRegistry constructor: without this line every
  // scrape of the primary times out.
  new AggregatorRegistry();
  const store = storeFromEnv();
  const parts = demoAppParts({ store });
  const tw = tokenwarden({ ...parts.wardenOptions, metrics: { registry } });
  const { customers } = seedData();

  const app = express();
  app.use(express.json());
  // Which worker answered: shows the load spreading over the processes.
  app.use((_req, res, next) => {
    res.setHeader('x-worker', String(cluster.worker?.id ?? 0));
    next();
  });
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' });
  });
  // Demo only: a real deployment gets tokens from its identity provider.
  app.post('/demo/token', (req, res) => {
    const reply = parts.issuer.reply(req.body);
    res.status(reply.status).json(reply.body);
  });

  app.use(tw);
  app.get(
    '/customers/:id',
    tw.requireScopes('customers:read'),
    tw.lawfulBasis('contract'),
    (req, res) => {
      const customer = customers.get(req.params.id as string);
      if (!customer) res.status(404).json({ error: 'not found' });
      else res.json(customer);
    },
  );
  app.put('/customers/:id', tw.requireScopes('customers:write'), (req, res) => {
    res.json(customers.get(req.params.id as string) ?? null);
  });

  const server = app.listen(port, host);
  process.once('disconnect', () => {
    // Finish the requests in flight, deliver the audit trail, then leave.
    server.close(() => {
      void tw.warden
        .close()
        .then(() => store?.close())
        .finally(() => process.exit(0));
    });
  });
}
