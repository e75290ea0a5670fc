import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { MemoryStore, type AuditEvent, type AuditSink } from '@tokenwarden/core';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import type { AdapterDriver } from './app-spec';
import { expressDriver } from './drivers/express';
import { koaDriver } from './drivers/koa';
import { nestExpressDriver, nestFastifyDriver } from './drivers/nest';

/**
 * Audit mode 'sync' through every adapter: no response reaches the client before its audit event
 * is stored, and when it can be stored nowhere under `onFailure: 'refuse'` the client gets 503
 * `audit_unavailable` instead of the handler's answer.
 */
const DRIVERS: AdapterDriver[] = [expressDriver, koaDriver, nestExpressDriver, nestFastifyDriver];
const dirs: string[] = [];

afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tw-audit-sync-'));
  dirs.push(dir);
  return dir;
}

/** A sink that takes `delayMs` to store each batch, like a remote SIEM. */
class SlowSink implements AuditSink {
  readonly name = 'slow';
  readonly stored: AuditEvent[] = [];
  writes = 0;
  constructor(private readonly delayMs: number) {}
  async write(events: readonly AuditEvent[]): Promise<void> {
    this.writes++;
    await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    this.stored.push(...events);
  }
}

/** A sink that is down. */
class DownSink implements AuditSink {
  readonly name = 'down';
  async write(): Promise<void> {
    throw new Error('connection refused');
  }
}

const quiet = { warn() {}, error() {} };

describe.each(DRIVERS)("audit mode 'sync' through $name", (driver) => {
  it('answers only once the event of the request is stored, for allows and denials', async () => {
    const sink = new SlowSink(60);
    const app = await driver.start({
      jwt: testJwtOptions(),
      store: new MemoryStore(),
      purposes: ['marketing', 'billing'],
      logger: quiet,
      metrics: false,
      audit: {
        sinks: [sink],
        mode: 'sync',
        spoolDir: tempDir(),
        fingerprintKey: randomBytes(32),
        // Async batching would hold events this long; sync mode must not wait for it.
        flushIntervalMs: 10_000,
      },
    });
    try {
      const token = mintToken();
      const cases: [string, string | undefined, number][] = [
        ['/customers/42', token, 200],
        ['/plain', undefined, 401],
        ['/customers/42/profile', token, 403],
      ];
      for (const [path, bearer, status] of cases) {
        const id = `sync-${status}-${randomBytes(4).toString('hex')}`;
        let req = request(app.server).get(path).set('x-request-id', id);
        if (bearer !== undefined) req = req.set('authorization', `Bearer ${bearer}`);
        const res = await req;
        expect(res.status).toBe(status);
        // The event was in the sink before the first byte of the response left.
        const events = sink.stored.filter((e) => e.requestId === id);
        expect(events).toHaveLength(1);
        expect(events[0]).toMatchObject({ outcome: status === 200 ? 'allow' : 'deny' });
      }
      // Concurrent requests share writes (group commit).
      const burst = await Promise.all(
        Array.from({ length: 40 }, () =>
          request(app.server).get('/customers/42').set('authorization', `Bearer ${token}`),
        ),
      );
      expect(burst.every((r) => r.status === 200)).toBe(true);
      expect(sink.stored.length).toBe(43);
      expect(sink.writes).toBeLessThan(43);
    } finally {
      await app.close();
    }
  });

  it("answers 503 audit_unavailable instead of the route's answer when the event cannot be stored", async () => {
    // The spool directory cannot be created: a file stands where it should be.
    const blocker = join(tempDir(), 'not-a-directory');
    writeFileSync(blocker, '');
    const app = await driver.start({
      jwt: testJwtOptions(),
      store: new MemoryStore(),
      purposes: ['marketing', 'billing'],
      logger: quiet,
      metrics: false,
      audit: {
        sinks: [new DownSink()],
        mode: 'sync',
        spoolDir: join(blocker, 'spool'),
        onFailure: 'refuse',
        retryIntervalMs: 60_000,
      },
    });
    try {
      const token = mintToken();
      for (const [path, bearer] of [
        ['/customers/42', token],
        ['/plain', undefined],
        ['/customers/42', token],
      ] as const) {
        let req = request(app.server).get(path);
        if (bearer !== undefined) req = req.set('authorization', `Bearer ${bearer}`);
        const res = await req;
        expect(res.status).toBe(503);
        expect(res.body).toMatchObject({ code: 'audit_unavailable' });
        expect(res.text).not.toContain('"ok":true');
        expect(res.headers['retry-after']).toBe('1');
      }
    } finally {
      await app.close().catch(() => undefined);
    }
  });
});
