import { describe, expect, it } from '@jest/globals';
import { createWarden, type AuditEvent, type AuditSink } from '@tokenwarden/core';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { bearer } from './support';

/** A sink that never stores anything, as a SIEM that is down. */
class DownSink implements AuditSink {
  readonly name = 'down';
  async write(_events: readonly AuditEvent[]): Promise<void> {
    throw new Error('connection refused');
  }
}

describe("audit.onFailure 'refuse'", () => {
  it('refuses requests with 503 audit_unavailable once no event can be stored, and never serves one unaudited', async () => {
    const warden = createWarden({
      jwt: testJwtOptions(),
      audit: {
        sinks: [new DownSink()],
        onFailure: 'refuse',
        spoolMaxBytes: 4096,
        flushIntervalMs: 1,
        retryIntervalMs: 60_000,
      },
      logger: { warn() {}, error() {} },
      metrics: false,
    });
    const token = mintToken({ now: Date.now() - 2_000 });
    let refused = 0;
    for (let i = 0; i < 200 && refused === 0; i++) {
      const decision = await warden.check(bearer(token));
      if (decision.outcome === 'deny') {
        expect(decision).toMatchObject({ status: 503, code: 'audit_unavailable' });
        expect(decision.headers['retry-after']).toBe('1');
        refused++;
      }
      await warden.flushAudit().catch(() => undefined);
    }
    expect(refused).toBe(1);
    await warden.close().catch(() => undefined);
  });
});
