import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { MemoryStore, verifyChains, type AuditEvent } from '@tokenwarden/core/internal';
import { AuditStreamReader, RedisStreamSink } from '@tokenwarden/redis';
import { deleteKeys, mintToken, testJwtOptions } from '@tokenwarden/testing';
import type { AdapterDriver } from '../conformance/app-spec';
import { expressDriver } from '../conformance/drivers/express';
import { koaDriver } from '../conformance/drivers/koa';
import { nestExpressDriver, nestFastifyDriver } from '../conformance/drivers/nest';

/**
 * Every adapter feeds the same audit trail into the Redis stream: one chained event per request,
 * with the request id, the outcome and the route template.
 */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const PORT = Number(new URL(REDIS_URL).port || 6379);
const BASE = `tw-audit-adapters-${randomBytes(6).toString('hex')}-`;
const DRIVERS: AdapterDriver[] = [expressDriver, koaDriver, nestExpressDriver, nestFastifyDriver];

afterAll(async () => {
  await deleteKeys(PORT, BASE);
});

describe.each(DRIVERS)('audit trail through $name', (driver) => {
  it('writes one chained event per request to the Redis stream', async () => {
    const prefix = `${BASE}${driver.name}:`;
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix });
    const app = await driver.start({
      jwt: testJwtOptions(),
      store: new MemoryStore(),
      purposes: ['marketing', 'billing'],
      logger: { warn() {}, error() {} },
      audit: { sinks: [sink], fingerprintKey: randomBytes(32), flushIntervalMs: 5 },
    });
    const token = mintToken(); // scope customers:read
    const sent: [string, string, string | undefined, number][] = [];
    const send = async (path: string, id: string, bearer: string | undefined, status: number) => {
      let req = request(app.server).get(path).set('x-request-id', id);
      if (bearer !== undefined) req = req.set('authorization', `Bearer ${bearer}`);
      expect((await req).status).toBe(status);
      sent.push([id, path, bearer, status]);
    };
    for (let i = 0; i < 5; i++) {
      await send('/customers/42', `ok-${i}`, token, 200);
      await send('/plain', `no-token-${i}`, undefined, 401);
      await send('/invoices', `basis-${i}`, token, 200);
    }
    await app.close();

    const reader = new AuditStreamReader({ url: REDIS_URL, prefix });
    const events: AuditEvent[] = [];
    for await (const { event } of reader.range()) if (event) events.push(event);
    const heads = await reader.heads();
    await reader.close();

    const byId = new Map<string, AuditEvent[]>();
    for (const e of events) {
      if (e.requestId !== undefined) byId.set(e.requestId, [...(byId.get(e.requestId) ?? []), e]);
    }
    expect(byId.size).toBe(sent.length);
    for (const [id, , , status] of sent) {
      const found = byId.get(id) ?? [];
      expect(found).toHaveLength(1);
      expect(found[0]!.outcome).toBe(status === 200 ? 'allow' : 'deny');
    }
    expect(byId.get('ok-0')![0]).toMatchObject({
      route: '/customers/:id',
      method: 'GET',
      status: 200,
    });
    expect(byId.get('basis-0')![0]).toMatchObject({
      lawfulBasis: 'legal_obligation',
      purpose: 'billing',
    });
    expect(byId.get('no-token-0')![0]).toMatchObject({ reason: 'token_missing' });
    const chains = verifyChains(events, {
      heads,
      key: Buffer.from(process.env.TOKENWARDEN_AUDIT_CHAIN_KEY ?? '', 'utf8'),
    });
    expect(chains).toHaveLength(1);
    expect(chains[0]).toMatchObject({ intact: true, events: sent.length, firstSeq: 1 });
  });
});
