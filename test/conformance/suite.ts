import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import request from 'supertest';
import { MemorySink, type Warden } from '@tokenwarden/core';
import type { Policy } from '@tokenwarden/core/policy';
import type { StoreCase } from '@tokenwarden/testing';
import { testJwtOptions } from '@tokenwarden/testing';
import type { AdapterDriver, RunningApp } from './app-spec';
import { API_KEY_STORE, SCENARIOS } from './scenarios';
import { SwitchableStore } from './switchable-store';

const RUN = randomBytes(3).toString('hex');

async function decisions(warden: Warden, outcome: string, reason: string): Promise<number> {
  const text = await warden.metrics.render();
  const line = text
    .split('\n')
    .find((l) =>
      l.startsWith(`tokenwarden_decisions_total{outcome="${outcome}",reason="${reason}"}`),
    );
  return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
}

/**
 * The conformance table on one adapter and one store: call it inside a `describe`. Every scenario
 * gets exactly its status, challenge, problem body, one audit event and one decision metric.
 */
export function conformanceScenarios(
  driver: AdapterDriver,
  storeCase: StoreCase,
  settings: { readonly policy?: Policy } = {},
): void {
  let app: RunningApp;
  let store: SwitchableStore;
  let sink: MemorySink;
  let cleanup: () => Promise<void>;

  beforeAll(async () => {
    const made = await storeCase.make();
    cleanup = made.cleanup;
    store = new SwitchableStore(made.store);
    sink = new MemorySink();
    app = await driver.start(
      {
        jwt: testJwtOptions(),
        store,
        purposes: ['marketing', 'billing'],
        apiKeys: { store: API_KEY_STORE },
        audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
        logger: { warn() {}, error() {} },
        ...(settings.policy ? { policy: settings.policy } : {}),
      },
      undefined,
      settings.policy ? { policyOnly: true } : undefined,
    );
  });
  afterAll(async () => {
    await app.close();
    await cleanup();
  });

  it.each(SCENARIOS.map((s, i) => [s.name, s, i] as const))('%s', async (_name, scenario, i) => {
    const ctx = {
      warden: app.warden,
      store,
      id: `${RUN}-${driver.name}-${storeCase.name}-${i}`,
    } as Parameters<NonNullable<typeof scenario.setup>>[0];
    await scenario.setup?.(ctx);
    const want = scenario.expect;
    const outcome = want.status < 400 ? 'allow' : 'deny';
    const before = await decisions(app.warden, outcome, want.reason);
    const requestId = `conf-${ctx.id}`;
    const agent = request(app.server);
    let call =
      scenario.method === 'PUT' ? agent.put(scenario.path(ctx)) : agent.get(scenario.path(ctx));
    call = call.set('x-request-id', requestId);
    for (const [name, value] of Object.entries(scenario.headers?.(ctx) ?? {})) {
      call = call.set(name, value as string);
    }
    let res;
    try {
      res = await call;
    } finally {
      await scenario.teardown?.(ctx);
    }

    expect(res.status).toBe(want.status);
    const challenge = res.headers['www-authenticate'];
    if (want.wwwAuthenticate === null) expect(challenge).toBeUndefined();
    else if (typeof want.wwwAuthenticate === 'string') expect(challenge).toBe(want.wwwAuthenticate);
    else expect(challenge).toMatch(want.wwwAuthenticate);
    if (outcome === 'deny') {
      expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
      expect(res.body).toEqual({
        type: `urn:tokenwarden:error:${want.code}`,
        title: expect.any(String),
        status: want.status,
        code: want.code,
        // Which check failed, when the verifier knows: the audit event's too (below).
        ...(res.body.detail === undefined ? {} : { detail: expect.any(String) }),
      });
      if (ctx.token) expect(res.text).not.toContain(ctx.token);
    } else {
      expect(res.body).toMatchObject({ ok: true });
    }

    await app.warden.flushAudit();
    const events = sink.events.filter((e) => e.requestId === requestId);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      type: 'access.decision',
      outcome,
      reason: want.reason,
      status: want.status,
      ...want.audit?.(ctx),
    });
    expect(events[0]!.detail?.failure).toBe(outcome === 'deny' ? res.body.detail : undefined);
    if (ctx.token) expect(JSON.stringify(events[0])).not.toContain(ctx.token);
    if (want.notInTrail) {
      const trail = JSON.stringify(sink.events);
      for (const text of want.notInTrail) expect(trail).not.toContain(text);
    }
    expect(await decisions(app.warden, outcome, want.reason)).toBe(before + 1);
  });
}
