/**
 * One API node of the refresh test: a token endpoint serving client credentials and refresh
 * tokens, and a warden checking access tokens, sharing signing keys, credentials and revocations
 * with the other node through Redis. Run by refresh.test.ts as a separate process.
 *
 *   POST /oauth/token (form)           -> the token endpoint's answer
 *   GET  /check  (Authorization: ...)  -> { outcome, code? }
 */
import { createServer } from 'node:http';
import {
  createWarden,
  masterKey,
  readTokenRequestBody,
  RefreshTokens,
  SigningKeyRing,
  TokenEndpoint,
  TokenIssuer,
} from '@tokenwarden/core/internal';
import { RedisCredentialStore, RedisSigningKeyStore, RedisStore } from '@tokenwarden/redis';

const env = process.env;
const prefix = env.TW_PREFIX;
const keys = new RedisSigningKeyStore({
  url: env.REDIS_URL,
  prefix,
  masterKey: masterKey(env.TW_MASTER_KEY ?? ''),
});
const ring = new SigningKeyRing({
  store: keys,
  algorithm: 'EdDSA',
  maxTokenLifetimeMs: 60_000,
  activationDelayMs: 500,
  refreshIntervalMs: 500,
});
const store = new RedisStore({ url: env.REDIS_URL, prefix });
const credentials = new RedisCredentialStore({ url: env.REDIS_URL, prefix });
const warden = createWarden({
  jwt: { algorithms: ['EdDSA'], keys: ring, issuer: 'https://lifecycle.test/', audience: 'api' },
  store,
  metrics: false,
  logger: { warn: () => {}, error: () => {} },
});
const issuer = new TokenIssuer({
  issuer: 'https://lifecycle.test/',
  audience: 'api',
  keys: ring,
  clients: { device: { scopes: ['read'] } },
  maxTokenLifetimeMs: 60_000,
  audit: warden,
});
const endpoint = new TokenEndpoint({
  issuer,
  clientSecrets: { device: env.TW_CLIENT_SECRET ?? '' },
  refreshTokens: new RefreshTokens({ store: credentials, revoker: warden, audit: warden }),
  refreshTokenClients: ['device'],
  audit: warden,
});

async function main(): Promise<void> {
  await ring.start();
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    const header = (name: string) => {
      const value = req.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    };
    void (async () => {
      if (req.url === '/oauth/token') {
        const body = await readTokenRequestBody(req);
        const answer = await endpoint.handle({ method: req.method ?? 'GET', header, body });
        reply(answer.status, answer.body, { ...answer.headers });
        return;
      }
      const decision = await warden.check({
        method: 'GET',
        path: '/check',
        url: '/check',
        headerValues: (name) => {
          const value = header(name);
          return value === undefined ? undefined : [value];
        },
      });
      reply(200, decision.outcome === 'allow' ? { outcome: 'allow' } : decision);
    })().catch((error: unknown) => reply(500, { error: String(error) }));
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`READY ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
  process.on('SIGTERM', () => {
    server.close();
    void (async () => {
      await ring.close();
      await warden.close();
      await Promise.all([store.close(), credentials.close(), keys.close()]);
      process.exit(0);
    })();
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`node failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
