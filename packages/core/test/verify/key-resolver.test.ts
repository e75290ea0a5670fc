/**
 * jwt.keys as a key resolver: keys that live elsewhere are asked for once per `kid` and `alg`,
 * then verify synchronously from the cache; a resolver that fails answers 503
 * key_source_unavailable (logged, its message never sent); an unknown kid is key_unknown.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes, type KeyObject } from 'node:crypto';
import {
  ConfigError,
  createWarden,
  MemorySink,
  type JwtAlgorithm,
  type KeyResolver,
  type Logger,
  type Warden,
} from '@tokenwarden/core';
import {
  FakeClock,
  keyPair,
  mintToken,
  TEST_AUDIENCE,
  TEST_ISSUER,
  testKeys,
} from '@tokenwarden/testing';
import { ResolvedKeys } from '../../src/verify/key-resolver';
import { KeySourceError } from '../../src/verify/key-source';
import { bearer } from '../support';

const T0 = Date.UTC(2030, 0, 1);

/** A resolver over a map, counting its calls; `delayMs` of real time before each answer. */
function resolverOf(
  keys: Map<string, KeyObject>,
  options: { delayMs?: number; fail?: Error } & Partial<KeyResolver> = {},
) {
  const calls: [string | undefined, JwtAlgorithm][] = [];
  const resolver: KeyResolver = {
    ...options,
    resolve: async (kid, alg) => {
      calls.push([kid, alg]);
      if (options.delayMs) await new Promise((resolve) => setTimeout(resolve, options.delayMs));
      if (options.fail) throw options.fail;
      return kid === undefined ? undefined : keys.get(`${alg}:${kid}`);
    },
  };
  return { resolver, calls };
}

function capturingLogger(): Logger & { readonly errors: string[] } {
  const errors: string[] = [];
  return {
    errors,
    warn: () => undefined,
    error: (message, fields) => void errors.push(`${message} ${JSON.stringify(fields)}`),
  };
}

const wardens: Warden[] = [];
afterEach(async () => {
  for (const warden of wardens.splice(0)) await warden.close();
});

function deployment(resolver: KeyResolver, clock = new FakeClock(T0)) {
  const sink = new MemorySink();
  const logger = capturingLogger();
  const warden = createWarden({
    jwt: {
      algorithms: ['RS256', 'HS256'],
      keys: resolver,
      issuer: TEST_ISSUER,
      audience: TEST_AUDIENCE,
    },
    clock,
    logger,
    audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
    metrics: false,
  });
  wardens.push(warden);
  return { warden, sink, logger, clock };
}

const rsa = () => testKeys().rs256;
const token = (clock: FakeClock, kid: string, claims: Record<string, unknown> = {}) =>
  mintToken({ alg: 'RS256', now: clock.now(), header: { kid }, claims });

describe('jwt.keys: a key resolver', () => {
  it('asks for a key once, after a delay, then verifies from the cache', async () => {
    const { resolver, calls } = resolverOf(new Map([['RS256:kms-1', rsa().publicKey]]), {
      delayMs: 20,
    });
    const { warden, clock } = deployment(resolver);
    const first = await warden.check(bearer(token(clock, 'kms-1', { sub: 'a' })));
    expect(first).toMatchObject({ outcome: 'allow', principal: { subject: 'a' } });
    // Another token naming the same key: the key is cached, so no promise and no call.
    const second = warden.beginNow(bearer(token(clock, 'kms-1', { sub: 'b' })));
    if (second instanceof Promise) throw new Error('a cached key must verify without a promise');
    expect(second.decision).toMatchObject({ outcome: 'allow', principal: { subject: 'b' } });
    await second.settle();
    expect(await warden.check(bearer(token(clock, 'kms-1', { sub: 'c' })))).toMatchObject({
      outcome: 'allow',
    });
    expect(calls).toEqual([['kms-1', 'RS256']]);
  });

  it('shares one look-up between concurrent requests', async () => {
    const { resolver, calls } = resolverOf(new Map([['RS256:kms-1', rsa().publicKey]]), {
      delayMs: 20,
    });
    const { warden, clock } = deployment(resolver);
    const decisions = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        warden.check(bearer(token(clock, 'kms-1', { sub: `u${i}` }))),
      ),
    );
    expect(decisions.every((d) => d.outcome === 'allow')).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it('answers 503 key_source_unavailable when the resolver throws: logged, not sent', async () => {
    const { resolver } = resolverOf(new Map(), {
      fail: new Error('KMS at 10.0.0.7 denied role arn:aws:iam::123:role/x'),
    });
    const { warden, clock, sink, logger } = deployment(resolver);
    const decision = await warden.check(bearer(token(clock, 'kms-1')));
    expect(decision).toMatchObject({
      outcome: 'deny',
      status: 503,
      code: 'key_source_unavailable',
      detail: 'the key source could not answer',
      headers: { 'retry-after': '1' },
    });
    expect(logger.errors).toEqual([expect.stringContaining('KMS at 10.0.0.7')]);
    expect(logger.errors[0]).toMatch(/^the verification keys could not be read /);
    await warden.flushAudit();
    const seen = JSON.stringify([decision, sink.events]);
    expect(seen).not.toContain('10.0.0.7');
    expect(seen).not.toContain('KMS');
    expect(sink.events[0]).toMatchObject({
      reason: 'key_source_unavailable',
      detail: { failure: 'the key source could not answer' },
    });
  });

  it('refuses an unknown kid with key_unknown and asks again only after missCacheMs', async () => {
    const { resolver, calls } = resolverOf(new Map(), { missCacheMs: 10_000 });
    const { warden, clock } = deployment(resolver);
    for (let i = 0; i < 3; i += 1) {
      expect(await warden.check(bearer(token(clock, 'nope')))).toMatchObject({
        status: 401,
        code: 'key_unknown',
        detail: 'no key for kid',
      });
    }
    expect(calls).toHaveLength(1);
    clock.advance(10_000);
    await warden.check(bearer(token(clock, 'nope')));
    expect(calls).toHaveLength(2);
  });

  it('binds an answer to the alg asked for: another alg is asked for on its own', async () => {
    const { resolver, calls } = resolverOf(new Map([['RS256:shared', rsa().publicKey]]));
    const { warden, clock } = deployment(resolver);
    expect(await warden.check(bearer(token(clock, 'shared')))).toMatchObject({ outcome: 'allow' });
    // An HS256 token naming the same kid (signed with some secret) finds no HS256 key.
    const forged = mintToken({ alg: 'HS256', now: clock.now(), header: { kid: 'shared' } });
    expect(await warden.check(bearer(forged))).toMatchObject({ code: 'key_unknown' });
    expect(calls).toEqual([
      ['shared', 'RS256'],
      ['shared', 'HS256'],
    ]);
  });

  it('answers 503 when the resolver gives a key unusable for the alg (logged)', async () => {
    const ec = keyPair('ec', { namedCurve: 'prime256v1' });
    const { resolver } = resolverOf(new Map([['RS256:wrong', ec.publicKey]]));
    const { warden, clock, logger } = deployment(resolver);
    expect(await warden.check(bearer(token(clock, 'wrong')))).toMatchObject({
      status: 503,
      code: 'key_source_unavailable',
    });
    expect(logger.errors).toEqual([expect.stringContaining('unusable for RS256')]);
  });

  it('asks again once a key is older than cacheMaxAgeMs, and drops tokens verified with a replaced key', async () => {
    const keys = new Map([['RS256:kms-1', rsa().publicKey]]);
    const { resolver, calls } = resolverOf(keys, { cacheMaxAgeMs: 60_000 });
    const { warden, clock } = deployment(resolver);
    const old = token(clock, 'kms-1');
    expect(await warden.check(bearer(old))).toMatchObject({ outcome: 'allow' });
    // The key is rotated at the source under the same kid.
    keys.set('RS256:kms-1', keyPair('rsa', { modulusLength: 2048 }).publicKey);
    expect(await warden.check(bearer(old))).toMatchObject({ outcome: 'allow' }); // cached
    clock.advance(60_000);
    expect(await warden.check(bearer(token(clock, 'kms-1')))).toMatchObject({
      code: 'invalid_signature',
    });
    expect(calls).toHaveLength(2);
    // The token verified with the old key is verified again, and refused.
    expect(await warden.check(bearer(old))).toMatchObject({ code: 'invalid_signature' });
  });

  it('refuses bad tuning at start-up', () => {
    const { resolver } = resolverOf(new Map(), { cacheMaxAgeMs: 0 });
    expect(() => deployment(resolver)).toThrow(ConfigError);
    expect(() => deployment(resolver)).toThrow(
      'jwt.keys.cacheMaxAgeMs must be a positive whole number',
    );
  });
});

describe('ResolvedKeys', () => {
  it('refuses more than 64 waiting look-ups, so a flood of random kids waits for none', async () => {
    const never: KeyResolver = { resolve: () => new Promise(() => undefined) };
    const keys = new ResolvedKeys(never, ['RS256']);
    for (let i = 0; i < 64; i += 1) void keys.prepare(`kid-${i}`, 'RS256');
    await expect(keys.prepare('kid-64', 'RS256')).rejects.toBeInstanceOf(KeySourceError);
    await expect(keys.prepare('kid-64', 'RS256')).rejects.toMatchObject({ reason: 'busy' });
  });

  it('keeps at most maxEntries answers, misses first', async () => {
    const clock = new FakeClock(T0);
    const { resolver } = resolverOf(new Map([['RS256:k0', rsa().publicKey]]), { maxEntries: 3 });
    const keys = new ResolvedKeys(resolver, ['RS256'], clock);
    await keys.prepare('k0', 'RS256');
    for (const kid of ['m1', 'm2', 'm3', 'm4']) await keys.prepare(kid, 'RS256');
    // The held key stays; the oldest misses went.
    expect(keys.select('k0', 'RS256')).toBeDefined();
    expect(keys.version).toBe(0);
  });

  it('selects nothing without the alg, and only for the alg asked for', async () => {
    const { resolver } = resolverOf(new Map([['RS256:k', rsa().publicKey]]));
    const keys = new ResolvedKeys(resolver, ['RS256', 'PS256']);
    await keys.prepare('k', 'RS256');
    expect(keys.select('k', 'RS256')?.alg).toBe('RS256');
    expect(keys.select('k', 'PS256')).toBeUndefined();
    expect(keys.select('k')).toBeUndefined();
  });
});
