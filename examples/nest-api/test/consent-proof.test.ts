import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { MemorySink, MemoryStore, type Warden } from '@tokenwarden/core';
import { DemoIssuer } from '@tokenwarden/example-shared';
import { getWardenToken } from '@tokenwarden/nest';
import { AppModule } from '../src/app.module';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe.each(['express', 'fastify'] as const)(
  'nest-api on %s: the privacy portal records proof of consent',
  (platform) => {
    let app: INestApplication;
    let warden: Warden;
    const store = new MemoryStore();
    const audit = new MemorySink();
    const http = () => request(app.getHttpServer());
    const issue = (subject: string, scopes: string[], client?: string) =>
      app.get(DemoIssuer).issue(subject, scopes, client);

    beforeAll(async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [AppModule.register({ store, audit })],
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
      await store.close();
    });

    it('keeps the notice and evidence of a grant, and refuses a malformed notice with 400', async () => {
      const portal = issue('privacy-portal', ['consents:write'], 'privacy-portal');
      const granted = await http()
        .put('/customers/c-1003/consents/marketing')
        .set(bearer(portal))
        .send({ notice: 'privacy-notice@2026-03', evidence: 'form-8841' });
      expect(granted.status).toBe(200);
      expect(granted.body).toMatchObject({
        notice: 'privacy-notice@2026-03',
        evidence: 'form-8841',
      });
      expect(await warden.getConsent('c-1003', 'marketing')).toMatchObject({
        notice: 'privacy-notice@2026-03',
      });
      const bad = await http()
        .put('/customers/c-1003/consents/marketing')
        .set(bearer(portal))
        .send({ notice: 'privacy-notice' });
      expect(bad.status).toBe(400);
    });
  },
);
