import { describe, expect, it } from '@jest/globals';
import { createServer, request, type Server } from 'node:http';
import {
  AuditUnavailableError,
  createWarden,
  gracefulShutdown,
  MemorySink,
  MemoryStore,
  StoreUnavailableError,
  type WardenOptions,
} from '@tokenwarden/core';
import { healthAnswer, type InvalidationFeed } from '@tokenwarden/core/internal';
import { testJwtOptions } from '@tokenwarden/testing';

const quiet = { warn() {}, error() {} };

/** A shared store (so the warden puts its local cache in front) whose ping does what it is told. */
class ProbedStore extends MemoryStore {
  pingError: Error | undefined;
  closed = 0;
  invalidations(): InvalidationFeed {
    return { isLive: true, subscribe: () => () => undefined };
  }
  override ping(): Promise<void> {
    return this.pingError === undefined ? Promise.resolve() : Promise.reject(this.pingError);
  }
  override async close(): Promise<void> {
    this.closed += 1;
    await super.close();
  }
}

function options(extra: Partial<WardenOptions> = {}): WardenOptions {
  return { jwt: testJwtOptions(), logger: quiet, ...extra };
}

describe('warden.ready() and healthAnswer', () => {
  it('resolves with the default memory store, and the health answer is 200 ok, not cached', async () => {
    const warden = createWarden(options());
    await expect(new MemoryStore().ping()).resolves.toBeUndefined();
    await expect(warden.ready()).resolves.toBeUndefined();
    expect(await healthAnswer(warden)).toEqual({
      status: 200,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: { status: 'ok' },
    });
    await warden.close();
  });

  it("rejects with the store's error through the local cache, and answers 503 without its detail", async () => {
    const store = new ProbedStore();
    const warden = createWarden(options({ store }));
    expect(warden.store).not.toBe(store);
    store.pingError = new StoreUnavailableError(
      'Redis did not answer ping: ECONNREFUSED 10.0.0.7:6379',
    );
    await expect(warden.ready()).rejects.toThrow('ECONNREFUSED 10.0.0.7:6379');
    const answer = await healthAnswer(warden);
    expect(answer.status).toBe(503);
    expect(answer.body).toEqual({ status: 'unavailable', reason: 'store_unavailable' });
    expect(JSON.stringify(answer)).not.toContain('10.0.0.7');
    // Any other failure of ping is a StoreUnavailableError too.
    store.pingError = new Error('socket hang up');
    await expect(warden.ready()).rejects.toBeInstanceOf(StoreUnavailableError);
    store.pingError = undefined;
    await expect(warden.ready()).resolves.toBeUndefined();
    await warden.close();
    await expect(warden.ready()).rejects.toThrow('the warden is closed');
  });

  it('is not ready while the audit trail refuses events', async () => {
    const sink = new MemorySink();
    const warden = createWarden(
      options({
        audit: { sinks: [sink], onFailure: 'refuse', maxQueue: 1, flushIntervalMs: 60_000 },
      }),
    );
    warden.recordEvent({ type: 'token.revoked', outcome: 'success' } as never);
    await expect(warden.ready()).rejects.toBeInstanceOf(AuditUnavailableError);
    expect((await healthAnswer(warden)).body).toEqual({
      status: 'unavailable',
      reason: 'audit_unavailable',
    });
    await warden.flushAudit();
    await expect(warden.ready()).resolves.toBeUndefined();
    await warden.close();
  });

  it('close() leaves a store passed in open; close({ store: true }) closes it', async () => {
    const kept = new ProbedStore();
    await createWarden(options({ store: kept })).close();
    expect(kept.closed).toBe(0);
    const closed = new ProbedStore();
    await createWarden(options({ store: closed })).close({ store: true });
    expect(closed.closed).toBe(1);
  });
});

describe('gracefulShutdown', () => {
  function listen(server: Server): Promise<number> {
    return new Promise((resolve) =>
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)),
    );
  }

  it('lets a request in flight finish, stops accepting, then closes the warden and its store', async () => {
    const store = new ProbedStore();
    const warden = createWarden(options({ store }));
    const steps: string[] = [];
    const server = createServer((_req, res) => {
      steps.push('request');
      setTimeout(() => {
        steps.push('answered');
        res.end('done');
      }, 150);
    });
    const port = await listen(server);
    const closeWarden = warden.close.bind(warden);
    warden.close = async (closeOptions) => {
      steps.push('warden closed');
      return closeWarden(closeOptions);
    };
    const shutdown = gracefulShutdown(server, warden, { signals: [], logger: quiet });
    const body = new Promise<string>((resolve, reject) => {
      request({ host: '127.0.0.1', port, path: '/' }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => (text += chunk.toString()));
        res.on('end', () => resolve(text));
      })
        .on('error', reject)
        .end();
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const done = shutdown();
    expect(shutdown()).toBe(done);
    expect(await body).toBe('done');
    await done;
    expect(steps).toEqual(['request', 'answered', 'warden closed']);
    expect(store.closed).toBe(1);
    expect(server.listening).toBe(false);
  });

  it('cuts requests still in flight after timeoutMs', async () => {
    const warden = createWarden(options());
    const server = createServer(() => undefined);
    const port = await listen(server);
    const errors: string[] = [];
    const failed = new Promise((resolve) =>
      request({ host: '127.0.0.1', port, path: '/' }).on('error', resolve).end(),
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    const started = Date.now();
    await gracefulShutdown(server, warden, {
      signals: [],
      timeoutMs: 200,
      logger: { error: (message) => void errors.push(message) },
    })();
    await failed;
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(errors).toEqual(['requests still in flight after 200 ms: their connections are cut']);
  });
});
