import { describe, expect, it } from '@jest/globals';
import { MemorySink } from '@tokenwarden/core';
import { redisStoreCase } from '@tokenwarden/testing';
import { loadPolicyFile } from '@tokenwarden/core/policy';
import { demoPolicyPath } from '@tokenwarden/example-shared';
import { checkPolicyDrift } from '@tokenwarden/express';
import { createApp } from '../src/app';
import { runDemo } from '../src/demo';

const EXPECTED = [200, 200, 403, 401, 200, 403, 403, 200];

describe('the demo story', () => {
  it('passes on the embedded MemoryStore, printing audit and metric lines', async () => {
    const lines: string[] = [];
    const result = await runDemo({ print: (line) => lines.push(line) });
    expect(result.steps.map((s) => s.status)).toEqual(EXPECTED);
    expect(result.ok).toBe(true);
    expect(result.steps.map((s) => s.code)).toEqual([
      undefined,
      undefined,
      'insufficient_scope',
      'token_revoked',
      undefined,
      'consent_withdrawn',
      'consent_withdrawn',
      undefined,
    ]);
    // The story expects exactly these codes (the Koa and Nest tests hold their apps to them).
    expect(result.steps.map((s) => s.expectedCode)).toEqual(result.steps.map((s) => s.code));
    const audit = lines.filter((l) => l.startsWith('{"schemaVersion"'));
    expect(audit.length).toBeGreaterThanOrEqual(9);
    expect(audit.some((l) => l.includes('"type":"token.revoked"'))).toBe(true);
    // Step 1 went through the client-credentials token endpoint, and the issuance is audited.
    expect(result.steps[0]?.path).toBe('/oauth/token');
    expect(audit.some((l) => l.includes('"type":"token.issued"'))).toBe(true);
    expect(lines).toContain('tokenwarden_tokens_issued_total{client="support-console"} 1');
    expect(audit.some((l) => l.includes('"type":"consent.withdrawn"'))).toBe(true);
    expect(lines.some((l) => l.startsWith('tokenwarden_decisions_total{'))).toBe(true);
    // The audit trail holds fingerprints, never tokens.
    expect(lines.join('\n')).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
  });

  it('agrees with its policy: every route declared, no step weakening a rule', async () => {
    const { app, tw } = createApp({ sinks: [new MemorySink()] });
    try {
      const policy = loadPolicyFile(demoPolicyPath());
      expect(checkPolicyDrift(app, policy, { drift: 'error' })).toEqual([]);
    } finally {
      await tw.warden.close();
    }
  });

  it('starts in production (drift: error) with and without the demo token route', async () => {
    const before = process.env.NODE_ENV;
    process.env.NODE_ENV = 'production';
    try {
      for (const demoTokens of [true, false]) {
        const { tw } = createApp({ demoTokens });
        await tw.warden.close();
      }
    } finally {
      process.env.NODE_ENV = before;
    }
  });

  it('passes on RedisStore', async () => {
    const { store, cleanup } = await redisStoreCase.make();
    try {
      const result = await runDemo({ store, print: () => {} });
      expect(result.steps.map((s) => s.status)).toEqual(EXPECTED);
    } finally {
      await cleanup();
    }
  });
});
