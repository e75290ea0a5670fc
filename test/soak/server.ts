/**
 * One application process of the soak run: the Express adapter over a RedisStore shared with the
 * other process, plus a loopback-only control surface the runner uses to revoke, withdraw and
 * grant, and to read the process's memory. Started by `run.ts`; prints `{"port":N}` once ready.
 *
 * Environment: SOAK_SECRET (hex HMAC key, from the runner), SOAK_PREFIX (Redis key prefix),
 * REDIS_URL, SOAK_STATE_CACHE (`off` turns the local state cache off), SOAK_SINK (`redis-stream`:
 * audit events to the Redis stream; default: counted and dropped).
 */
import express from 'express';
import { StoreUnavailableError, type AuditEvent, type AuditSink } from '@tokenwarden/core';
import { tokenwarden } from '@tokenwarden/express';
import { RedisStore, RedisStreamSink } from '@tokenwarden/redis';
import { SOAK_AUDIENCE, SOAK_ISSUER, SOAK_PURPOSE } from './shared';

const secret = Buffer.from(process.env.SOAK_SECRET ?? '', 'hex');
if (secret.length < 32) throw new Error('SOAK_SECRET must be at least 32 bytes of hex');

let unhandled = 0;
let auditEvents = 0;
process.on('unhandledRejection', () => void (unhandled += 1));
process.on('uncaughtException', () => void (unhandled += 1));

/** Counts events and keeps none: the soak measures the middleware's memory, not a sink's. */
const countingSink: AuditSink = {
  name: 'soak-count',
  write: async (events: readonly AuditEvent[]) => void (auditEvents += events.length),
};

/**
 * SOAK_SINK=redis-stream: the events go to the Redis stream (the full configuration of
 * `pnpm soak:full`), counted on the way.
 */
const streamSink =
  process.env.SOAK_SINK === 'redis-stream'
    ? new RedisStreamSink({
        url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        prefix: process.env.SOAK_PREFIX ?? 'tokenwarden-soak:',
      })
    : undefined;
const sink: AuditSink =
  streamSink === undefined
    ? countingSink
    : {
        name: 'redis-stream',
        write: async (events: readonly AuditEvent[]) => {
          await streamSink.write(events);
          auditEvents += events.length;
        },
        close: () => streamSink.close(),
      };

const store = new RedisStore({
  url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  prefix: process.env.SOAK_PREFIX ?? 'tokenwarden-soak:',
});
const tw = tokenwarden({
  jwt: {
    algorithms: ['HS256'],
    keys: [{ kid: 'soak-1', alg: 'HS256', key: secret }],
    issuer: SOAK_ISSUER,
    audience: SOAK_AUDIENCE,
  },
  store,
  purposes: [SOAK_PURPOSE],
  audit: { sinks: [sink], fingerprintKey: secret },
  logger: { warn() {}, error() {} },
  ...(process.env.SOAK_STATE_CACHE === 'off' ? { cache: { state: false as const } } : {}),
});

const app = express();
app.use(express.json());
const admin = express.Router();
admin.post('/revoke', async (req, res) => {
  const { jti, expiresAt } = req.body as { jti: string; expiresAt: number };
  await tw.warden.revokeToken(jti, { expiresAt });
  res.json({ ok: true });
});
admin.post('/withdraw', async (req, res) => {
  const { subject } = req.body as { subject: string };
  await tw.warden.withdrawConsent({ subject, purpose: SOAK_PURPOSE });
  res.json({ ok: true });
});
admin.post('/grant', async (req, res) => {
  const { subject } = req.body as { subject: string };
  await tw.warden.grantConsent({ subject, purpose: SOAK_PURPOSE });
  res.json({ ok: true });
});
admin.get('/stats', async (req, res) => {
  if (req.query['gc'] === '1' && typeof globalThis.gc === 'function') globalThis.gc();
  const memory = process.memoryUsage();
  const metrics = (await tw.warden.metrics.render())
    .split('\n')
    .filter((line) => /^tokenwarden_(cache|decisions_total|store_errors)/.test(line));
  res.json({ heapUsed: memory.heapUsed, rss: memory.rss, unhandled, auditEvents, metrics });
});
app.use('/admin', admin);
app.use(tw);
app.get('/customers/:id', tw.requireScopes('customers:read'), (req, res) => {
  res.json({ id: req.params['id'] });
});
app.get(
  '/customers/:id/profile',
  tw.requireScopes('marketing:read'),
  tw.requireConsent(SOAK_PURPOSE, { subject: { param: 'id' } }),
  (req, res) => res.json({ id: req.params['id'] }),
);
// A control call the store could not answer is a 503 (the caller must retry); anything else a
// 500. The runner counts both, never hides them.
app.use(
  (error: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const unavailable = error instanceof StoreUnavailableError;
    res
      .status(unavailable ? 503 : 500)
      .json({ error: unavailable ? 'store_unavailable' : 'internal' });
  },
);

const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address !== null && typeof address === 'object') {
    process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);
  }
});
server.keepAliveTimeout = 60_000;

async function shutdown(): Promise<void> {
  server.close();
  await tw.warden.close();
  await store.close();
  process.exit(0);
}
process.on('SIGTERM', () => void shutdown());
process.on('SIGINT', () => void shutdown());
