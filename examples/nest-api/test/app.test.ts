import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { MemorySink, MemoryStore, type Warden, type WardenStore } from '@tokenwarden/core';
import { getWardenToken } from '@tokenwarden/nest';
import { RedisStore } from '@tokenwarden/redis';
import { AppModule } from '../src/app.module';

interface StoreCase {
  readonly name: string;
  make(): WardenStore;
}

const STORES: StoreCase[] = [
  { name: 'MemoryStore', make: () => new MemoryStore() },
  {
    name: 'RedisStore',
    make: () =>
      new RedisStore({
        url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        prefix: `tw-nest-example-${randomBytes(6).toString('hex')}:`,
      }),
  },
];

const CASES = (['express', 'fastify'] as const).flatMap((platform) =>
  STORES.map((store) => ({ platform, store })),
);

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

function claimsOf(token: string): { jti: string; exp: number } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
    jti: string;
    exp: number;
  };
}

describe.each(CASES)('the nest-api story on $platform with $store.name', ({ platform, store }) => {
  let app: INestApplication;
  let warden: Warden;
  let backing: WardenStore;
  const audit = new MemorySink();
  const http = () => request(app.getHttpServer());

  async function issue(subject: string, scopes: string[], client?: string): Promise<string> {
    const res = await http().post('/demo/token').send({ subject, scopes, client });
    expect(res.status).toBe(200);
    return (res.body as { access_token: string }).access_token;
  }

  beforeAll(async () => {
    backing = store.make();
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.register({ store: backing, audit })],
    }).compile();
    if (platform === 'fastify') {
      const fastify = moduleRef.createNestApplication<NestFastifyApplication>(
        new FastifyAdapter(),
        { logger: false },
      );
      await fastify.init();
      await fastify.getHttpAdapter().getInstance().ready();
      app = fastify;
    } else {
      app = moduleRef.createNestApplication({ logger: false });
      await app.init();
    }
    warden = app.get<Warden>(getWardenToken());
  });

  afterAll(async () => {
    await app.close();
    await backing.close();
  });

  it('issue → read → write refused → revoke → refused → consent read → withdraw → refused', async () => {
    // 1. The demo issuer mints a support agent's token.
    const token = await issue('agent-7', ['customers:read', 'orders:read']);
    // 2. A read with customers:read is allowed.
    const read = await http().get('/customers/c-1001').set(bearer(token));
    expect(read.status).toBe(200);
    expect(read.body).toMatchObject({ id: 'c-1001', name: 'Ada Example' });
    expect((await http().get('/customers/c-1001/orders').set(bearer(token))).body).toHaveLength(2);
    // 3. A write without customers:write is refused.
    const write = await http()
      .put('/customers/c-1001')
      .set(bearer(token))
      .send({ email: 'new@example.test' });
    expect(write.status).toBe(403);
    expect(write.body.code).toBe('insufficient_scope');
    // 4. Ops revoke the token (it leaked); it is refused at once.
    const { jti, exp } = claimsOf(token);
    await warden.revokeToken(jti, { expiresAt: exp * 1000, actor: 'ops', reason: 'leaked' });
    const revoked = await http().get('/customers/c-1001').set(bearer(token));
    expect(revoked.status).toBe(401);
    expect(revoked.body.code).toBe('token_revoked');

    // 5. The customer consents through the privacy portal; a marketer reads the profile.
    const portal = await issue('privacy-portal', ['consents:write'], 'privacy-portal');
    expect(
      (await http().put('/customers/c-1001/consents/marketing').set(bearer(portal))).status,
    ).toBe(200);
    const marketer = await issue('agent-9', ['marketing:read'], 'campaign-tool');
    const profile = await http().get('/customers/c-1001/marketing-profile').set(bearer(marketer));
    expect(profile.status).toBe(200);
    expect(profile.body).toMatchObject({ customerId: 'c-1001', newsletter: true });

    // 6. The customer withdraws; the marketer's token is refused, and so is a fresh one.
    expect(
      (await http().delete('/customers/c-1001/consents/marketing').set(bearer(portal))).status,
    ).toBe(200);
    const old = await http().get('/customers/c-1001/marketing-profile').set(bearer(marketer));
    expect(old.status).toBe(403);
    expect(old.body.code).toBe('consent_withdrawn');
    const fresh = await issue('agent-9', ['marketing:read'], 'campaign-tool');
    const again = await http().get('/customers/c-1001/marketing-profile').set(bearer(fresh));
    expect(again.status).toBe(403);
    expect(again.body.code).toBe('consent_withdrawn');
    expect(again.headers['content-type']).toMatch(/^application\/problem\+json/);

    // 7. Health needs no token; metrics count the story.
    expect((await http().get('/health')).status).toBe(200);
    const metrics = await http().get('/metrics');
    expect(metrics.text).toMatch(
      /tokenwarden_decisions_total\{outcome="deny",reason="token_revoked"\} 1/,
    );

    // The audit trail: every change and decision, fingerprints only, never a token.
    await warden.flushAudit();
    const types = audit.events.map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining(['token.revoked', 'consent.granted', 'consent.withdrawn']),
    );
    expect(audit.events).toContainEqual(
      expect.objectContaining({
        type: 'access.decision',
        route: '/customers/:id',
        lawfulBasis: 'contract',
        status: 200,
      }),
    );
    expect(audit.events).toContainEqual(
      expect.objectContaining({
        type: 'consent.withdrawn',
        dataSubject: 'c-1001',
        actor: 'privacy-portal',
      }),
    );
    const trail = JSON.stringify(audit.events);
    for (const t of [token, portal, marketer, fresh]) expect(trail).not.toContain(t);
  });

  it('refuses unknown purposes and missing tokens', async () => {
    const portal = await issue('privacy-portal', ['consents:write'], 'privacy-portal');
    const bad = await http().put('/customers/c-1002/consents/profiling').set(bearer(portal));
    expect(bad.status).toBe(400);
    const none = await http().get('/customers/c-1002');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="api"');
  });
});

describe('pnpm start (tsx: no decorator metadata, the adapter from source)', () => {
  it.each(['express', 'fastify'])(
    'serves the API on %s and stops on SIGTERM',
    async (platform) => {
      const cwd = join(__dirname, '..');
      const child = spawn(join(cwd, 'node_modules', '.bin', 'tsx'), ['src/main.ts'], {
        cwd,
        env: { ...process.env, PORT: '0', HOST: '127.0.0.1', PLATFORM: platform, REDIS_URL: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = once(child, 'exit');
      try {
        const base = await new Promise<string>((resolve, reject) => {
          let stdout = '';
          child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
            stdout += chunk;
            const url = /customers API on (http:\/\/[^ ]+)/.exec(stdout)?.[1];
            if (url) resolve(url);
          });
          child.once('exit', (code) => reject(new Error(`exited ${String(code)}\n${stderr}`)));
        });
        expect((await fetch(`${base}/health`)).status).toBe(200);
        const minted = await fetch(`${base}/demo/token`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ subject: 'agent-1', scopes: ['customers:read'] }),
        });
        const { access_token: token } = (await minted.json()) as { access_token: string };
        const read = await fetch(`${base}/customers/c-1002`, { headers: bearer(token) });
        expect(read.status).toBe(200);
        expect((await fetch(`${base}/customers/c-1002`)).status).toBe(401);
      } finally {
        child.kill('SIGTERM');
        const [code] = await exited;
        expect(code).toBe(0);
      }
      expect(stderr).not.toMatch(/error/i);
    },
    30_000,
  );
});
