import { describe, expect, it } from '@jest/globals';
import { ConfigError } from '@tokenwarden/core/internal';
import { FakeClock } from '@tokenwarden/testing';
import { resolveAuditOptions } from '../../src/audit/options';
import { AuditTrail } from '../../src/audit/trail';
import { countingMetrics, decision, SwitchableSink } from './support';

const T0 = Date.UTC(2030, 0, 1, 12);
const HOUR = 3_600_000;

describe('audit.spoolMaxAgeMs (the policy retention.spool)', () => {
  function trailWith(spoolMaxAgeMs: number | undefined) {
    const sink = new SwitchableSink();
    const clock = new FakeClock(T0);
    const metrics = countingMetrics();
    const errors: string[] = [];
    const trail = new AuditTrail(
      resolveAuditOptions({ producer: 'test', chain: false, sinks: [sink], spoolMaxAgeMs }),
      { clock, metrics, logError: (message) => errors.push(message) },
    );
    return { sink, clock, metrics, errors, trail };
  }

  it('drops events that waited in the spool longer than the max age, and counts them', async () => {
    const { sink, clock, metrics, errors, trail } = trailWith(HOUR);
    sink.down = true;
    trail.record(decision(1));
    trail.record(decision(2));
    await trail.flush();
    expect(sink.stored).toHaveLength(0);
    clock.advance(HOUR - 1);
    trail.record(decision(4));
    await trail.flush();
    clock.advance(2);
    sink.down = false;
    await trail.flush();
    // The first two waited more than an hour; the third did not.
    expect(sink.stored.map((e) => e.seq)).toEqual([3]);
    expect(metrics.counts['dropped']).toBe(2);
    expect(errors.join('\n')).toContain('longer than audit.spoolMaxAgeMs');
    await trail.close();
  });

  it('without a max age, replays every spooled event however old', async () => {
    const { sink, clock, metrics, trail } = trailWith(undefined);
    sink.down = true;
    trail.record(decision(1));
    await trail.flush();
    clock.advance(1_000 * HOUR);
    sink.down = false;
    await trail.flush();
    expect(sink.stored).toHaveLength(1);
    expect(metrics.counts['dropped']).toBeUndefined();
    await trail.close();
  });

  it('refuses a max age that is not a positive whole number of ms', () => {
    expect(() => resolveAuditOptions({ spoolMaxAgeMs: 0 })).toThrow(ConfigError);
    expect(() => resolveAuditOptions({ spoolMaxAgeMs: 1.5 })).toThrow(/audit\.spoolMaxAgeMs/);
  });
});
