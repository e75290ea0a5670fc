import { describe, expect, it } from '@jest/globals';
import { MemorySink, type AuditEvent } from '@tokenwarden/core';
import { noopMetrics } from '../../src/metrics/prometheus';
import type { WardenMetrics } from '../../src/metrics/types';
import { resolveAuditOptions } from '../../src/audit/options';
import { Pseudonymizer } from '../../src/audit/privacy';
import { AuditTrail } from '../../src/audit/trail';
import { systemClock } from '../../src/internal/clock';
import type { RequestContext } from '../../src/pipeline/context';
import { Pipeline } from '../../src/pipeline/pipeline';
import { DecisionRecorder } from '../../src/pipeline/record';
import { Requirements } from '../../src/pipeline/requirements';
import type { Stage, StageResult } from '../../src/pipeline/stage';
import { view } from '../support';
import { denials } from './support';

/** A stage that notes its name and answers what it is told. */
function step(name: string, trace: string[], answer: (ctx: RequestContext) => StageResult): Stage {
  return {
    name,
    run: (ctx) => {
      trace.push(name);
      return answer(ctx);
    },
  };
}

function pipeline(stages: Stage[], sink = new MemorySink(), metrics: WardenMetrics = noopMetrics) {
  const trail = new AuditTrail(resolveAuditOptions({ sinks: [sink], flushIntervalMs: 1 }), {
    clock: systemClock,
    metrics: noopMetrics,
    logError: () => undefined,
  });
  const runner = new Pipeline({
    stages,
    routeStages: stages.slice(-1),
    requirements: new Requirements({ assertPurpose: () => undefined, dpop: false }),
    denials,
    recorder: new DecisionRecorder(trail, metrics, new Pseudonymizer(undefined, 'omit')),
    metrics,
    observing: true,
  });
  return { runner, trail, sink };
}

const allow = (ctx: RequestContext) => {
  ctx.decision = { outcome: 'allow', reason: 'authorized' };
  return undefined;
};

describe('the stage runner', () => {
  it('runs every stage in order without a promise when none needs I/O', () => {
    const trace: string[] = [];
    const { runner } = pipeline([
      step('a', trace, () => undefined),
      step('b', trace, () => undefined),
      step('c', trace, allow),
    ]);
    const access = runner.begin(view());
    expect(access).not.toBeInstanceOf(Promise);
    expect(trace).toEqual(['a', 'b', 'c']);
    expect((access as { decision: unknown }).decision).toMatchObject({ outcome: 'allow' });
  });

  it('goes on after a stage that waits, with the later stages', async () => {
    const trace: string[] = [];
    const { runner } = pipeline([
      step('a', trace, () => Promise.resolve(undefined)),
      step('b', trace, () => undefined),
      step('c', trace, allow),
    ]);
    const pending = runner.begin(view());
    expect(pending).toBeInstanceOf(Promise);
    expect(trace).toEqual(['a']);
    const access = await pending;
    expect(trace).toEqual(['a', 'b', 'c']);
    expect(access.decision).toMatchObject({ outcome: 'allow' });
  });

  it('stops at the first denial and records it at once, exactly once', async () => {
    const trace: string[] = [];
    const { runner, trail, sink } = pipeline([
      step('a', trace, () => Promise.resolve(denials.of('token_revoked'))),
      step('b', trace, allow),
    ]);
    const access = await runner.begin(view({ route: '/orders/:id' }));
    expect(trace).toEqual(['a']);
    expect(access.decision).toMatchObject({ outcome: 'deny', code: 'token_revoked' });
    await access.settle(200);
    await trail.flush();
    const events: AuditEvent[] = sink.events.filter((e) => e.type === 'access.decision');
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ outcome: 'deny', reason: 'token_revoked', status: 401 });
    expect(events[0]?.route).toBe('/orders/:id');
  });

  it('records an allow once, when settled, with the status sent', async () => {
    const trace: string[] = [];
    const { runner, trail, sink } = pipeline([step('a', trace, allow)]);
    const access = await runner.begin(view());
    expect(sink.events).toHaveLength(0);
    await Promise.all([access.settle(204), access.settle(500)]);
    await trail.flush();
    expect(sink.events).toHaveLength(1);
    expect(sink.events[0]).toMatchObject({ outcome: 'allow', status: 204 });
  });

  it('times the store call of a timed stage, whether it answers now or later', async () => {
    const calls: [string, number, boolean][] = [];
    const metrics: WardenMetrics = {
      ...noopMetrics,
      storeCall: (operation, seconds, failed) => void calls.push([operation, seconds, failed]),
    };
    const timed = (wait: boolean): Stage => ({
      name: 'timed',
      timed: true,
      run: (ctx) => {
        ctx.storeOperation = 'lookup';
        return wait ? new Promise((done) => setTimeout(() => done(undefined), 20)) : undefined;
      },
    });
    await pipeline([timed(true), step('z', [], allow)], new MemorySink(), metrics).runner.begin(
      view(),
    );
    expect(calls).toEqual([['lookup', expect.any(Number), false]]);
    expect(calls[0]![1]).toBeGreaterThanOrEqual(0.015);
    pipeline([timed(false), step('z', [], allow)], new MemorySink(), metrics).runner.begin(view());
    expect(calls).toHaveLength(2);
    // A timed stage that called no store records nothing.
    pipeline(
      [step('a', [], () => undefined), step('z', [], allow)],
      new MemorySink(),
      metrics,
    ).runner.begin(view());
    expect(calls).toHaveLength(2);
  });

  it('runs only the route stages for a route step, and never after a denial', async () => {
    const trace: string[] = [];
    const { runner } = pipeline([step('a', trace, () => undefined), step('b', trace, allow)]);
    const access = await runner.begin(view());
    trace.length = 0;
    expect(await access.authorize({ scopes: ['x'] })).toMatchObject({ outcome: 'allow' });
    expect(trace).toEqual(['b']);
    const refused = pipeline([step('a', [], () => denials.of('token_missing'))]).runner;
    const denied = await refused.begin(view());
    expect(await denied.authorize({ scopes: ['x'] })).toMatchObject({ code: 'token_missing' });
  });
});
