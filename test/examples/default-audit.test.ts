/**
 * The examples as a user runs them, with no audit option: every request through the warden leaves
 * exactly one audit event, a JSON line on standard output, holding the route template and never
 * the raw path.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import type { AuditEvent, Warden } from '@tokenwarden/core';
import { getWardenToken } from '@tokenwarden/nest';
import { DemoIssuer } from '../../examples/shared/src';
import { createApp as createExpressApp } from '../../examples/express-api/src/app';
import { createApp as createKoaApp } from '../../examples/koa-api/src/app';
import { AppModule } from '../../examples/nest-api/src/app.module';

interface Running {
  readonly server: Parameters<typeof request>[0];
  readonly warden: Warden;
  issue(subject: string, scopes: string[]): string;
  close(): Promise<void>;
}

const EXAMPLES: { name: string; start: () => Promise<Running> }[] = [
  {
    name: 'express-api',
    start: async () => {
      const { app, tw, issue } = createExpressApp();
      return { server: app, warden: tw.warden, issue, close: () => tw.warden.close() };
    },
  },
  {
    name: 'koa-api',
    start: async () => {
      const { app, tw, issue } = createKoaApp();
      return { server: app.callback(), warden: tw.warden, issue, close: () => tw.warden.close() };
    },
  },
  {
    name: 'nest-api',
    start: async () => {
      const moduleRef = await Test.createTestingModule({
        imports: [AppModule.register()],
      }).compile();
      const app: INestApplication = moduleRef.createNestApplication({ logger: false });
      await app.init();
      return {
        server: app.getHttpServer(),
        warden: app.get<Warden>(getWardenToken()),
        issue: (subject, scopes) => app.get(DemoIssuer).issue(subject, scopes),
        close: () => app.close(),
      };
    },
  },
];

/** Lines written to standard output while installed; the writes still complete. */
function captureStdout(): { text: () => string; restore: () => void } {
  let text = '';
  const spy = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: unknown, ...rest: unknown[]) => {
      text += String(chunk);
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    });
  return { text: () => text, restore: () => spy.mockRestore() };
}

const chainKeyBefore = process.env.TOKENWARDEN_AUDIT_CHAIN_KEY;
beforeAll(() => {
  // What a deployment sets once: the key of the trail's hash chain.
  process.env.TOKENWARDEN_AUDIT_CHAIN_KEY ??= randomBytes(32).toString('base64url');
});
afterAll(() => {
  if (chainKeyBefore === undefined) delete process.env.TOKENWARDEN_AUDIT_CHAIN_KEY;
});

describe.each(EXAMPLES)('$name with the default options', ({ name, start }) => {
  it('writes one audit event per request as a JSON line on standard output', async () => {
    const stdout = captureStdout();
    const run = randomBytes(4).toString('hex');
    const id = (n: number) => `${name}-${run}-${n}`;
    try {
      const app = await start();
      try {
        const reader = app.issue('c-1001', ['customers:read']);
        const http = request(app.server);
        const answers = [
          await http.get('/customers/jane.doe@example.com').set('x-request-id', id(1)),
          await http
            .get('/customers/c-1001')
            .set('x-request-id', id(2))
            .set('authorization', `Bearer ${reader}`),
          await http
            .put('/customers/jane.doe@example.com')
            .set('x-request-id', id(3))
            .set('authorization', `Bearer ${reader}`)
            .send({ email: 'x@example.com' }),
        ];
        expect(answers.map((a) => a.status)).toEqual([401, 200, 403]);
        await app.warden.flushAudit();
      } finally {
        await app.close();
      }
    } finally {
      stdout.restore();
    }
    const events = stdout
      .text()
      .split('\n')
      .filter((line) => line.startsWith('{"schemaVersion"'))
      .map((line) => JSON.parse(line) as AuditEvent);
    for (const n of [1, 2, 3]) {
      expect(events.filter((e) => e.requestId === id(n))).toHaveLength(1);
    }
    const byRequest = (n: number) => events.find((e) => e.requestId === id(n))!;
    expect(byRequest(1)).toMatchObject({ type: 'access.decision', outcome: 'deny', method: 'GET' });
    expect(byRequest(2)).toMatchObject({
      outcome: 'allow',
      route: '/customers/:id',
      status: 200,
    });
    expect(byRequest(3)).toMatchObject({ outcome: 'deny', method: 'PUT', status: 403 });
    expect(stdout.text()).not.toContain('jane.doe');
  });
});
