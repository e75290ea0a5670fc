/**
 * One API node of the rotation test: a signing key ring shared through Redis, a token issuer and
 * a verifier, behind a tiny HTTP API. Run by rotation.test.ts as a separate process.
 *
 *   POST /issue           -> { token, kid }
 *   POST /verify {token}  -> { ok, code?, kid? }
 */
import { createServer } from 'node:http';
import { masterKey, SigningKeyRing, TokenIssuer } from '@tokenwarden/core';
import { RedisSigningKeyStore } from '@tokenwarden/redis';
import { verifyJwt } from '../../packages/core/src/verify/jwt';

const env = process.env;
const settings = JSON.parse(env.TW_SETTINGS ?? '{}') as {
  maxTokenLifetimeMs: number;
  clockToleranceMs: number;
  activationDelayMs: number;
  refreshIntervalMs: number;
};
const store = new RedisSigningKeyStore({
  url: env.REDIS_URL,
  prefix: env.TW_PREFIX,
  masterKey: masterKey(env.TW_MASTER_KEY ?? ''),
});
const alg = env.TW_ALG === 'EdDSA' ? 'EdDSA' : 'ES256';
const ring = new SigningKeyRing({ store, algorithm: alg, ...settings });
const issuer = new TokenIssuer({
  issuer: 'https://lifecycle.test/',
  audience: 'api',
  keys: ring,
  clients: { app: { scopes: ['read'] } },
  maxTokenLifetimeMs: settings.maxTokenLifetimeMs,
});

async function main(): Promise<void> {
  await ring.start();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      let answer: unknown;
      if (req.url === '/issue') {
        const issued = issuer.issue({ client: 'app' });
        answer = { token: issued.token, kid: issued.kid };
      } else {
        const { token } = JSON.parse(body) as { token: string };
        const result = verifyJwt(
          token,
          {
            ring,
            algorithms: [alg],
            issuer: 'https://lifecycle.test/',
            audience: 'api',
            maxLifetimeMs: settings.maxTokenLifetimeMs,
            clockToleranceMs: settings.clockToleranceMs,
            maxClaimLength: 256,
            permissionsClaim: undefined,
          },
          Date.now(),
        );
        answer = result.ok
          ? { ok: true, kid: result.token.kid }
          : { ok: false, code: result.failure.code };
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer));
    });
  });
  server.listen(0, '127.0.0.1', () => {
    const address = server.address();
    process.stdout.write(`READY ${typeof address === 'object' && address ? address.port : 0}\n`);
  });
  process.on('SIGTERM', () => {
    server.close();
    void ring
      .close()
      .then(() => store.close())
      .then(() => process.exit(0));
  });
}

main().catch((error: unknown) => {
  process.stderr.write(`node failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
