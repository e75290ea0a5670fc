/**
 * What the fault tests share: an Express app on the conformance routes over a given store, the
 * state an attack would like to get around (a revoked token, a revoked subject, a withdrawn
 * consent), steady traffic of probes during a fault, and the checks every fault must pass.
 */
import { randomBytes } from 'node:crypto';
import { expect } from '@jest/globals';
import {
  MemorySink,
  type AuditSink,
  type Warden,
  type WardenOptions,
  type WardenStore,
} from '@tokenwarden/core';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { expressDriver } from '../conformance/drivers/express';
import type { RunningApp } from '../conformance/app-spec';
import { get, portOf } from '../hostile/http';

/** One kind of request sent during a fault, and the statuses it may get. */
export interface Probe {
  readonly name: string;
  readonly path: string;
  readonly token: string;
  /** The answer when the store is healthy. */
  readonly healthy: 200 | 401 | 403;
  /** True for state the fault must never let through (revoked, withdrawn). */
  readonly guarded: boolean;
}

/** One answer seen during traffic. */
export interface Sample {
  readonly probe: string;
  readonly status: number;
  readonly code: string | undefined;
  readonly ms: number;
  /** When it was sent, in ms since the traffic started. */
  readonly at: number;
}

/** An Express app over `store`, with its warden and an in-memory audit sink. */
export async function startApp(
  store: WardenStore,
  sinks: AuditSink[] = [],
  cache?: WardenOptions['cache'],
): Promise<RunningApp & { port: number; sink: MemorySink }> {
  const sink = new MemorySink(200_000);
  const app = await expressDriver.start({
    jwt: testJwtOptions(),
    store,
    ...(cache === undefined ? {} : { cache }),
    purposes: ['marketing', 'billing'],
    audit: { sinks: [sink, ...sinks], fingerprintKey: randomBytes(32) },
    logger: { warn() {}, error() {} },
  });
  return Object.assign(app, { port: portOf(app.server), sink });
}

/**
 * Writes the guarded state through `warden` and returns the probes that test it. Waits first for
 * the store to answer (a store opened a moment ago may still be connecting on a busy machine).
 */
export async function guardedState(warden: Warden, id: string): Promise<Probe[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await warden.store.getConsent('warm-up', 'marketing');
      break;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(50);
    }
  }
  const revokedJti = `revoked-${id}`;
  const revoked = mintToken({ claims: { jti: revokedJti, sub: `u-${id}` } });
  await warden.revokeToken(revokedJti, { expiresAt: Date.now() + 600_000 });
  const gone = mintToken({ claims: { sub: `gone-${id}` } });
  await warden.revokeSubject(`gone-${id}`);
  await warden.grantConsent({ subject: `c-ok-${id}`, purpose: 'marketing' });
  await warden.grantConsent({ subject: `c-gone-${id}`, purpose: 'marketing' });
  await warden.withdrawConsent({ subject: `c-gone-${id}`, purpose: 'marketing' });
  const marketing = mintToken({ claims: { scope: 'marketing:read', sub: `agent-${id}` } });
  return [
    { name: 'valid', path: '/customers/c1', token: mintToken(), healthy: 200, guarded: false },
    { name: 'revoked token', path: '/customers/c1', token: revoked, healthy: 401, guarded: true },
    { name: 'revoked subject', path: '/customers/c1', token: gone, healthy: 401, guarded: true },
    {
      name: 'consent granted',
      path: `/customers/c-ok-${id}/profile`,
      token: marketing,
      healthy: 200,
      guarded: false,
    },
    {
      name: 'consent withdrawn',
      path: `/customers/c-gone-${id}/profile`,
      token: marketing,
      healthy: 403,
      guarded: true,
    },
  ];
}

/** Sends the probes round-robin from `concurrency` loops until stopped. */
export class Traffic {
  readonly samples: Sample[] = [];
  private running = true;
  private readonly loops: Promise<void>[] = [];
  private readonly started = performance.now();

  constructor(
    private readonly port: number,
    private readonly probes: readonly Probe[],
    concurrency = 4,
  ) {
    for (let i = 0; i < concurrency; i++) this.loops.push(this.loop(i));
  }

  /** Sends every probe once, now, and returns the samples. */
  static async once(port: number, probes: readonly Probe[]): Promise<Sample[]> {
    const out: Sample[] = [];
    for (const probe of probes) out.push(await send(port, probe, performance.now()));
    return out;
  }

  /** Stops the loops and waits for requests in flight. */
  async stop(): Promise<Sample[]> {
    this.running = false;
    await Promise.all(this.loops);
    return this.samples;
  }

  /** Samples since `at` (ms since the traffic started). */
  since(at: number): Sample[] {
    return this.samples.filter((s) => s.at >= at);
  }

  /** ms since the traffic started. */
  now(): number {
    return performance.now() - this.started;
  }

  private async loop(offset: number): Promise<void> {
    let i = offset;
    while (this.running) {
      const probe = this.probes[i % this.probes.length]!;
      i += 1;
      this.samples.push(await send(this.port, probe, this.started));
    }
  }
}

async function send(port: number, probe: Probe, origin: number): Promise<Sample> {
  const started = performance.now();
  const reply = await get(port, probe.path, { authorization: `Bearer ${probe.token}` });
  let code: string | undefined;
  try {
    code = (JSON.parse(reply.body) as { code?: string }).code;
  } catch {
    code = undefined;
  }
  return {
    probe: probe.name,
    status: reply.status,
    code,
    ms: performance.now() - started,
    at: started - origin,
  };
}

/**
 * The guarantees under any fault: every answer is the healthy one or 503 `store_unavailable`
 * (fail closed), so no guarded state is ever let through and no other 5xx appears.
 */
export function expectFailClosed(samples: readonly Sample[], probes: readonly Probe[]): void {
  const byName = new Map(probes.map((p) => [p.name, p]));
  const wrong = samples.filter((s) => {
    const probe = byName.get(s.probe)!;
    if (s.status === probe.healthy) return false;
    return !(s.status === 503 && s.code === 'store_unavailable');
  });
  expect(wrong.slice(0, 5)).toEqual([]);
  const leaked = samples.filter((s) => byName.get(s.probe)!.guarded && s.status === 200);
  expect(leaked).toEqual([]);
}

/** Polls until every probe gets its healthy answer; resolves with the ms it took. */
export async function waitForRecovery(
  port: number,
  probes: readonly Probe[],
  deadlineMs = 20_000,
): Promise<number> {
  const started = performance.now();
  for (;;) {
    const samples = await Traffic.once(port, probes);
    const byName = new Map(probes.map((p) => [p.name, p]));
    if (samples.every((s) => s.status === byName.get(s.probe)!.healthy)) {
      return performance.now() - started;
    }
    if (performance.now() - started > deadlineMs) {
      throw new Error(
        `not recovered after ${deadlineMs} ms: ${JSON.stringify(samples.map((s) => [s.probe, s.status, s.code]))}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** p-th percentile (0–1) of values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

/** One line of the summary printed after the fault tests. */
export function summarise(name: string, samples: readonly Sample[], recoveryMs: number): string {
  const refused = samples.filter((s) => s.status === 503).map((s) => s.ms);
  const counts = new Map<number, number>();
  for (const s of samples) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  const statuses = [...counts].map(([status, n]) => `${status}×${n}`).join(' ');
  const latency =
    refused.length === 0
      ? 'no 503'
      : `503 in p50 ${percentile(refused, 0.5).toFixed(0)} ms, p99 ${percentile(refused, 0.99).toFixed(0)} ms, max ${Math.max(...refused).toFixed(0)} ms`;
  return `${name}: ${samples.length} requests (${statuses}); ${latency}; healthy again ${recoveryMs.toFixed(0)} ms after the fault ended`;
}

/** Sleeps `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
