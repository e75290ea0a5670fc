import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { MemorySink, type Warden, type WardenStore } from '@tokenwarden/core';
import { loadPolicyFile } from '@tokenwarden/core/policy';
import { demoPolicyPath, DemoIssuer, stepsByName } from '@tokenwarden/example-shared';
import type { DemoTokenService } from '@tokenwarden/example-shared';
import { checkPolicyDrift, getWardenToken } from '@tokenwarden/nest';
import { STORE_CASES } from '@tokenwarden/testing';
// The story every example tells, and what each app must answer to it.
import { expectStory, tokensOf } from '../../shared/test/expect-story';
import { AppModule, DEMO_TOKENS } from '../src/app.module';

const CASES = (['express', 'fastify'] as const).flatMap((platform) =>
  STORE_CASES.map((store) => ({ platform, store })),
);

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe.each(CASES)('the nest-api story on $platform with $store.name', ({ platform, store }) => {
  let app: INestApplication;
  let warden: Warden;
  let backing: WardenStore;
  let cleanup: () => Promise<void>;
  let baseUrl: string;
  const audit = new MemorySink();
  const http = () => request(app.getHttpServer());
  const issue = (subject: string, scopes: string[], client?: string) =>
    app.get(DemoIssuer).issue(subject, scopes, client);

  beforeAll(async () => {
    ({ store: backing, cleanup } = await store.make());
    const moduleRef = await Test.createTestingModule({
      imports: [AppModule.register({ store: backing, audit })],
    }).compile();
    if (platform === 'fastify') {
      const fastify = moduleRef.createNestApplication<NestFastifyApplication>(
        new FastifyAdapter(),
        { logger: false },
      );
      await fastify.listen(0, '127.0.0.1');
      app = fastify;
    } else {
      app = moduleRef.createNestApplication({ logger: false });
      await app.listen(0, '127.0.0.1');
    }
    baseUrl = await app.getUrl();
    warden = app.get<Warden>(getWardenToken());
  });

  it('agrees with its policy: every route declared, no decorator weakening a rule', () => {
    const policy = loadPolicyFile(demoPolicyPath());
    expect(checkPolicyDrift(app, policy, { drift: 'error' })).toEqual([]);
  });

  afterAll(async () => {
    await app.close();
    await backing.close();
    // Deletes the RedisStore's keys (by its prefix).
    await cleanup();
  });

  it('issue → read → write refused → revoke → refused → consent read → withdraw → refused', async () => {
    const tokenClient = app.get<DemoTokenService>(DEMO_TOKENS).clients['support-console'];
    const steps = await expectStory({ baseUrl, warden, issue, tokenClient });
    expect(stepsByName(steps).issue?.path).toBe('/oauth/token');
    const step = stepsByName(steps);
    expect(step.consented?.body).toMatchObject({ customerId: 'c-1001', newsletter: true });
    expect(step['fresh-token']?.contentType).toMatch(/^application\/problem\+json/);

    // Health needs no token (the story's last step); metrics count the story.
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
    const trail = JSON.stringify(audit.events);
    for (const token of tokensOf(steps)) expect(trail).not.toContain(token);
  });

  // c-1002: the story has just withdrawn c-1001's consent, and tokens issued in that second stay
  // refused even after a new grant (iat has one-second resolution).
  it('records consent through the privacy portal, audited with the portal as actor', async () => {
    const portal = issue('privacy-portal', ['consents:write'], 'privacy-portal');
    expect(
      (await http().put('/customers/c-1002/consents/marketing').set(bearer(portal))).status,
    ).toBe(200);
    const marketer = issue('agent-9', ['marketing:read'], 'campaign-tool');
    const profile = await http().get('/customers/c-1002/marketing-profile').set(bearer(marketer));
    expect(profile.status).toBe(200);
    expect(profile.body).toMatchObject({ customerId: 'c-1002', newsletter: false });

    expect(
      (await http().delete('/customers/c-1002/consents/marketing').set(bearer(portal))).status,
    ).toBe(200);
    const old = await http().get('/customers/c-1002/marketing-profile').set(bearer(marketer));
    expect(old.status).toBe(403);
    expect(old.body.code).toBe('consent_withdrawn');

    await warden.flushAudit();
    expect(audit.events).toContainEqual(
      expect.objectContaining({
        type: 'consent.withdrawn',
        dataSubject: 'c-1002',
        actor: 'privacy-portal',
      }),
    );
    const trail = JSON.stringify(audit.events);
    for (const token of [portal, marketer]) expect(trail).not.toContain(token);
  });

  it('refuses unknown purposes and missing tokens', async () => {
    const portal = issue('privacy-portal', ['consents:write'], 'privacy-portal');
    const bad = await http().put('/customers/c-1002/consents/profiling').set(bearer(portal));
    expect(bad.status).toBe(400);
    const none = await http().get('/customers/c-1002');
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer realm="api"');
  });

  it('mints demo tokens over POST /demo/token and refuses a bad request with 400', async () => {
    const minted = await http()
      .post('/demo/token')
      .send({ subject: 'privacy-portal', scopes: ['consents:write'], client: 'privacy-portal' });
    expect(minted.status).toBe(200);
    expect((minted.body as { access_token: string }).access_token).toMatch(/^eyJ/);
    expect((await http().post('/demo/token').send({ subject: 1 })).status).toBe(400);
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
