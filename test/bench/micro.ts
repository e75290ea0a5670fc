/**
 * CPU cost of one warden decision, without HTTP: `pnpm exec tsx test/bench/micro.ts`.
 * Reports microseconds of process CPU time (user + system) per check, which, unlike req/s,
 * barely moves when other processes share the machine.
 */
import { randomBytes } from 'node:crypto';
import {
  createWarden,
  MemorySink,
  MemoryStore,
  type AuditSink,
  type Requirement,
  type WardenOptions,
} from '@tokenwarden/core';
import jwt from 'jsonwebtoken';

const N = Number(process.env.MICRO_N ?? 200_000);
const secret = randomBytes(32);
const jwtOptions = {
  algorithms: ['HS256'] as const,
  keys: [{ kid: 'k1', alg: 'HS256' as const, key: secret }],
  issuer: 'https://issuer.bench/',
  audience: 'bench-api',
};

function mint(subject: string): string {
  const iat = Math.floor(Date.now() / 1000) - 2;
  return jwt.sign(
    {
      iss: jwtOptions.issuer,
      aud: jwtOptions.audience,
      sub: subject,
      jti: randomBytes(12).toString('hex'),
      scope: 'customers:read',
      iat,
      exp: iat + 3000,
    },
    secret,
    { algorithm: 'HS256', keyid: 'k1' },
  );
}

function view(token: string) {
  const header = [`Bearer ${token}`];
  return {
    method: 'GET',
    path: '/hello',
    url: '/hello',
    route: '/hello',
    ip: '203.0.113.7',
    headerValues: (name: string) => (name === 'authorization' ? header : undefined),
  };
}

async function measure(name: string, options: Partial<WardenOptions>, requirement?: Requirement) {
  const store = new MemoryStore();
  const warden = createWarden({
    jwt: { ...jwtOptions, algorithms: ['HS256'] },
    store,
    purposes: ['analytics'],
    ...options,
  });
  const tokens = Array.from({ length: 1000 }, (_, i) => mint(`user-${i}`));
  for (let i = 0; i < 1000; i++)
    await warden.grantConsent({ subject: `user-${i}`, purpose: 'analytics' });
  const views = tokens.map(view);
  // Warm-up, flushing the audit queue as the measured loop does (it holds at most 10 000 events).
  for (let i = 0; i < 20_000; i++) {
    await warden.check(views[i % 1000]!, requirement);
    if (i % 5000 === 0) await warden.flushAudit();
  }
  await warden.flushAudit();
  const started = process.cpuUsage();
  for (let i = 0; i < N; i++) {
    await warden.check(views[i % 1000]!, requirement);
    if (i % 5000 === 0) await warden.flushAudit();
  }
  await warden.flushAudit();
  const used = process.cpuUsage(started);
  console.log(`${name.padEnd(36)} ${((used.user + used.system) / N).toFixed(2)} µs CPU per check`);
  await warden.close();
}

class NullSink implements AuditSink {
  async write(): Promise<void> {}
}

async function main(): Promise<void> {
  const requirement: Requirement = {
    scopes: ['customers:read'],
    consent: { purpose: 'analytics' },
  };
  if (process.env.MICRO_ONLY === 'consent') {
    for (let i = 0; i < 3; i++) {
      await measure('scope + consent, no metrics', { metrics: false }, requirement);
      await measure('scope + consent, metrics', {}, requirement);
    }
    return;
  }
  if (process.env.MICRO_ONLY === 'audit') {
    return measure(
      '+ audit (null sink)',
      { audit: { sinks: [new NullSink()], fingerprintKey: randomBytes(32) } },
      requirement,
    );
  }
  await measure('verify only (no metrics, no audit)', { metrics: false });
  await measure('no caches', { metrics: false, cache: false });
  await measure('+ metrics', {});
  await measure('+ scope + consent', {}, requirement);
  await measure(
    '+ audit (null sink)',
    { audit: { sinks: [new NullSink()], fingerprintKey: randomBytes(32) } },
    requirement,
  );
  await measure(
    '+ audit (memory sink)',
    { audit: { sinks: [new MemorySink(1000)], fingerprintKey: randomBytes(32) } },
    requirement,
  );
}

void main();
