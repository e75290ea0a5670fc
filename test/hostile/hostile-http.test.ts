import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MemorySink } from '@tokenwarden/core';
import { STORE_CASES, testJwtOptions } from '@tokenwarden/testing';
import type { AdapterDriver, RunningApp } from '../conformance/app-spec';
import { expressDriver } from '../conformance/drivers/express';
import { koaDriver } from '../conformance/drivers/koa';
import { nestExpressDriver, nestFastifyDriver } from '../conformance/drivers/nest';
import { buildCorpus, runId, type HostileCase } from './corpus';
import { closeAgent, get, portOf, sendRaw, type HttpReply } from './http';

/**
 * The hostile corpus replayed over real HTTP against every adapter and both stores: each case
 * gets exactly its status and code, never a 5xx, never the route handler. Afterwards everything
 * the middleware wrote (responses, audit events, metrics, logs, stdout and stderr) is scanned for
 * the raw tokens and key material of the run. Time per hostile case is measured against the
 * normal path and printed; it is a figure to read, never asserted.
 */

const DRIVERS: AdapterDriver[] = [expressDriver, koaDriver, nestExpressDriver, nestFastifyDriver];
const corpus = buildCorpus(runId());
const CASES = corpus.cases.map((c) => [c.name, c] as const);
/** Everything the middleware wrote during the run, for the secret scan. */
const written: string[] = [];
const timing: { adapter: string; normalMs: number; ratios: [string, number][] }[] = [];

const originalWrite = {
  out: process.stdout.write.bind(process.stdout),
  err: process.stderr.write.bind(process.stderr),
};
beforeAll(async () => {
  await corpus.prepare();
  const capture =
    (original: typeof originalWrite.out) =>
    (...args: Parameters<typeof originalWrite.out>): boolean => {
      written.push(String(args[0]));
      return original(...args);
    };
  process.stdout.write = capture(originalWrite.out) as typeof process.stdout.write;
  process.stderr.write = capture(originalWrite.err) as typeof process.stderr.write;
});
afterAll(() => {
  process.stdout.write = originalWrite.out as typeof process.stdout.write;
  process.stderr.write = originalWrite.err as typeof process.stderr.write;
  closeAgent();
  const lines = timing.map((t) => {
    const sorted = [...t.ratios].sort((a, b) => a[1] - b[1]);
    const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
    const worst = at(1);
    return `${t.adapter.padEnd(13)} normal path ${t.normalMs.toFixed(2)} ms; hostile/normal median ${at(0.5)?.[1].toFixed(2)}x, p90 ${at(0.9)?.[1].toFixed(2)}x, max ${worst?.[1].toFixed(2)}x (${worst?.[0]})`;
  });
  console.log(`hostile corpus: ${corpus.cases.length} cases\n${lines.join('\n')}`);
});

function send(port: number, c: HostileCase): Promise<HttpReply> {
  return c.raw === undefined
    ? get(
        port,
        c.path ?? '/customers/c1',
        typeof c.headers === 'function' ? c.headers() : c.headers,
      )
    : sendRaw(port, c.raw);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

it('has at least 150 cases, each with a source and a unique name', () => {
  expect(corpus.cases.length).toBeGreaterThanOrEqual(150);
  expect(new Set(corpus.cases.map((c) => c.name)).size).toBe(corpus.cases.length);
  for (const c of corpus.cases) expect(c.source.length).toBeGreaterThan(0);
});

describe.each(DRIVERS)('hostile corpus over HTTP: $name', (driver) => {
  describe.each(STORE_CASES)('on $name', (storeCase) => {
    let app: RunningApp;
    let port: number;
    let sink: MemorySink;
    let cleanup: () => Promise<void>;

    beforeAll(async () => {
      const made = await storeCase.make();
      cleanup = made.cleanup;
      sink = new MemorySink(100_000);
      const log = (level: string) => (message: string, fields?: object) =>
        void written.push(`${level} ${message} ${inspect(fields, { depth: 6 })}`);
      app = await driver.start({
        jwt: testJwtOptions(),
        store: made.store,
        purposes: ['marketing', 'billing'],
        apiKeys: { store: corpus.apiKeyStore },
        audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
        logger: { warn: log('warn'), error: log('error') },
      });
      port = portOf(app.server);
    });
    afterAll(async () => {
      await app.warden.flushAudit();
      written.push(JSON.stringify(sink.events), await app.warden.metrics.render());
      await app.close();
      await cleanup();
    });

    it('allows the control: a valid token on the same route', async () => {
      const reply = await get(port, '/customers/c1', {
        authorization: `Bearer ${corpus.validToken()}`,
      });
      expect(reply.status).toBe(200);
      expect(JSON.parse(reply.body)).toMatchObject({ ok: true });
    });

    it.each(CASES)('%s', async (_name, c) => {
      await c.setup?.(app.warden);
      const reply = await send(port, c);
      written.push(`${reply.status} ${JSON.stringify(reply.headers)} ${reply.body}`);
      expect(reply.status).toBe(c.status);
      expect(reply.body).not.toContain('"ok":true');
      if (c.code !== undefined) {
        expect(reply.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(JSON.parse(reply.body)).toMatchObject({ status: c.status, code: c.code });
      }
    });

    it('denied every case in the audit trail and metrics, none allowed', async () => {
      await app.warden.flushAudit();
      const allowed = sink.events.filter(
        (e) => e.type === 'access.decision' && e.outcome === 'allow',
      );
      // Only the control request may have been allowed.
      expect(allowed).toHaveLength(1);
      const metrics = await app.warden.metrics.render();
      expect(metrics).toMatch(
        /tokenwarden_decisions_total\{outcome="allow",reason="authorized"\} 1\n/,
      );
    });

    // Timed on the memory store only: the figure is the pipeline's, not Redis's.
    if (storeCase.name === 'MemoryStore') {
      it('takes about as long per hostile case as on the normal path (measured, not asserted)', async () => {
        const ratios: [string, number][] = [];
        const normal: number[] = [];
        const timed = async (run: () => Promise<unknown>) => {
          const started = performance.now();
          await run();
          return performance.now() - started;
        };
        const control = { authorization: `Bearer ${corpus.validToken()}` };
        for (const c of corpus.cases) {
          if (c.raw !== undefined || c.code === undefined) continue;
          const hostile: number[] = [];
          const around: number[] = [];
          for (let i = 0; i < 5; i++) {
            around.push(await timed(() => get(port, '/customers/c1', control)));
            hostile.push(await timed(() => send(port, c)));
          }
          normal.push(...around);
          // The fastest of five: the least disturbed by whatever else the machine runs.
          ratios.push([c.name, Math.min(...hostile) / Math.min(...around)]);
        }
        timing.push({
          adapter: driver.name,
          normalMs: median(normal),
          ratios,
        });
        expect(ratios.length).toBeGreaterThan(100);
      });
    }
  });
});

describe('everything the middleware wrote during the run', () => {
  it('holds no raw token, token segment or key material of the run', () => {
    expect(written.length).toBeGreaterThan(16);
    const text = written.join('\n');
    const needles = new Set<string>(corpus.keyMaterial);
    expect(corpus.minted.length).toBeGreaterThan(0);
    for (const secret of [...corpus.cases.flatMap((c) => c.secrets), ...corpus.minted]) {
      {
        needles.add(secret);
        // A signature or payload segment alone is as telling as the token.
        for (const part of secret.split('.')) if (part.length >= 24) needles.add(part);
      }
    }
    const hits = [...needles].filter((needle) => text.includes(needle));
    expect(hits.map((h) => `${h.slice(0, 6)}… (${h.length} chars)`)).toEqual([]);
    expect(needles.size).toBeGreaterThan(150);
  });
});
