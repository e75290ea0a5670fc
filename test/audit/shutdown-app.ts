/**
 * The application process of the shutdown test (shutdown.test.ts starts it with tsx and sends it
 * SIGTERM): the Express adapter with a JSON-lines audit file and `gracefulShutdown`. Prints
 * `READY <port>` once it listens.
 *
 * Environment: SHUTDOWN_DIR (where the audit file goes), SHUTDOWN_SECRET (hex HMAC key of the
 * test's tokens).
 */
import { join } from 'node:path';
import express from 'express';
import { JsonLinesSink } from '@tokenwarden/core';
import { gracefulShutdown, tokenwarden } from '@tokenwarden/express';
import { KILL_AUDIENCE, KILL_ISSUER } from './kill-shared';

const dir = process.env.SHUTDOWN_DIR ?? '';
const secret = Buffer.from(process.env.SHUTDOWN_SECRET ?? '', 'hex');
if (dir === '' || secret.length < 32)
  throw new Error('SHUTDOWN_DIR and SHUTDOWN_SECRET are required');

const tw = tokenwarden({
  jwt: {
    algorithms: ['HS256'],
    keys: [{ kid: 'kill-1', alg: 'HS256', key: secret }],
    issuer: KILL_ISSUER,
    audience: KILL_AUDIENCE,
  },
  logger: { warn() {}, error() {} },
  // A long flush interval: events of the last requests are still in memory at SIGTERM.
  audit: {
    sinks: [new JsonLinesSink({ file: join(dir, 'audit.jsonl') })],
    fingerprintKey: secret,
    flushIntervalMs: 60_000,
  },
});
const app = express();
app.use(tw);
app.get('/data', (_req, res) => {
  res.json({ ok: true });
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`READY ${port}\n`);
});
gracefulShutdown(server, tw.warden);
