/**
 * The application process of the kill test (kill.test.ts starts it with tsx and kills it with
 * SIGKILL): the Express adapter with the audit trail at its defaults, in the mode the test names,
 * writing to a JSON-lines file and spooling to a directory. Prints `READY <port>` once it listens.
 *
 * Environment: KILL_MODE (`async` or `sync`), KILL_DIR (where the audit file and spool go),
 * KILL_SECRET (hex HMAC key of the test's tokens).
 */
import { join } from 'node:path';
import express from 'express';
import { JsonLinesSink } from '@tokenwarden/core';
import { tokenwarden } from '@tokenwarden/express';
import { KILL_AUDIENCE, KILL_ISSUER } from './kill-shared';

const mode = process.env.KILL_MODE === 'sync' ? 'sync' : 'async';
const dir = process.env.KILL_DIR ?? '';
const secret = Buffer.from(process.env.KILL_SECRET ?? '', 'hex');
if (dir === '' || secret.length < 32) throw new Error('KILL_DIR and KILL_SECRET are required');

const app = express();
app.use(
  tokenwarden({
    jwt: {
      algorithms: ['HS256'],
      keys: [{ kid: 'kill-1', alg: 'HS256', key: secret }],
      issuer: KILL_ISSUER,
      audience: KILL_AUDIENCE,
    },
    logger: { warn() {}, error() {} },
    audit: {
      mode,
      sinks: [new JsonLinesSink({ file: join(dir, 'audit.jsonl') })],
      spoolDir: join(dir, 'spool'),
      fingerprintKey: secret,
    },
  }),
);
app.get('/data', (_req, res) => {
  res.json({ ok: true });
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : 0;
  process.stdout.write(`READY ${port}\n`);
});
