import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { ConfigError, createAdmin, createWarden, MemoryStore } from '@tokenwarden/core';
import type { AuditEvent } from '@tokenwarden/core/internal';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { bearer, memoryLogger, view } from '../support';

const CHAIN_KEY = Buffer.alloc(32, 3);

/** Captures what is written to standard output while `run` goes on. */
async function stdoutOf(run: () => Promise<void>): Promise<string> {
  let text = '';
  const spy = jest
    .spyOn(process.stdout, 'write')
    .mockImplementation((chunk: unknown, ...rest: unknown[]) => {
      text += String(chunk);
      const done = rest.find((r) => typeof r === 'function') as (() => void) | undefined;
      done?.();
      return true;
    });
  try {
    await run();
  } finally {
    spy.mockRestore();
  }
  return text;
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('the audit trail is on by default', () => {
  it('with no audit option, each decision is one JSON line on standard output', async () => {
    const logger = memoryLogger();
    const out = await stdoutOf(async () => {
      const warden = createWarden({
        jwt: testJwtOptions(),
        logger,
        audit: { chainKey: CHAIN_KEY },
      });
      await warden.check(view({ path: '/customers/jane.doe@example.com' }));
      await warden.check(
        bearer(mintToken({ claims: { scope: 'orders:read' } }), { route: '/orders/:id' }),
      );
      await warden.close();
    });
    const events = out
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as AuditEvent);
    expect(events.map((e) => [e.type, e.outcome, e.route])).toEqual([
      ['access.decision', 'deny', '(unmatched)'],
      ['access.decision', 'allow', '/orders/:id'],
    ]);
    expect(out).not.toContain('jane.doe');
    expect(logger.lines.some((l) => l.includes('audit: false'))).toBe(false);
  });

  it('an admin with no audit option writes its lifecycle events to standard output too', async () => {
    const out = await stdoutOf(async () => {
      const admin = createAdmin({ store: new MemoryStore(), audit: { chainKey: CHAIN_KEY } });
      await admin.revokeSubject('user-1', { actor: 'ops' });
      await admin.close();
    });
    expect(JSON.parse(out)).toMatchObject({ type: 'subject.revoked', outcome: 'success' });
  });

  it('refuses an empty sink list: audit: false is the one way to have no trail', () => {
    expect(() =>
      createWarden({ jwt: testJwtOptions(), audit: { sinks: [], chainKey: CHAIN_KEY } }),
    ).toThrow(ConfigError);
    expect(() => createWarden({ jwt: testJwtOptions(), audit: { sinks: [] } })).toThrow(
      /audit: false/,
    );
    expect(() => createWarden({ jwt: testJwtOptions(), audit: 'on' as unknown as false })).toThrow(
      /audit must be an object of audit settings, or false/,
    );
  });

  it('audit: false records nothing and logs exactly one warning at start-up', async () => {
    const logger = memoryLogger();
    const out = await stdoutOf(async () => {
      const warden = createWarden({ jwt: testJwtOptions(), logger, audit: false });
      expect(logger.lines).toEqual([
        expect.stringMatching(/^warn: audit: false: access decisions .* leave no audit trail/),
      ]);
      await warden.check(view());
      await warden.check(view());
      await warden.close();
    });
    expect(out).toBe('');
    expect(logger.lines).toHaveLength(1);
  });
});
