import { afterEach, describe, expect, it } from '@jest/globals';
import {
  type AdminOptions,
  type CacheOptions,
  ConfigError,
  createAdmin,
  createWarden,
  MemorySink,
  MemoryStore,
  TrustedIssuers,
  type TrustedIssuersOptions,
  UsageLimits,
  type JwtAlgorithm,
  type JwtOptions,
  type LawfulBasis,
  type Requirement,
  type Warden,
  type WardenOptions,
} from '@tokenwarden/core';
import { testJwtOptions } from '@tokenwarden/testing';
import { optionKeys } from '../../src/internal/option-keys';
import { resolveOptions } from '../../src/options/resolve';
import { memoryLogger } from '../support';

/** Runs `fn`, expects a ConfigError and returns its message. */
function configMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).code).toBe('config_invalid');
    return (error as ConfigError).message;
  }
  throw new Error('expected a ConfigError, nothing was thrown');
}

/** Options with one field of `jwt` replaced, typed loosely on purpose (JS callers exist). */
function withJwt(patch: Readonly<Record<string, unknown>>): WardenOptions {
  return { jwt: { ...testJwtOptions(), ...patch } as JwtOptions, logger: memoryLogger() };
}

describe('resolveOptions: required settings', () => {
  it('needs an options object with jwt', () => {
    expect(configMessage(() => resolveOptions(undefined as unknown as WardenOptions))).toMatch(
      /needs an options object/,
    );
    expect(configMessage(() => resolveOptions({} as WardenOptions))).toMatch(
      /'jwt' or 'issuers' is required/,
    );
  });

  it.each([
    ['missing', undefined],
    ['empty', []],
  ])('requires jwt.algorithms (%s)', (_name, algorithms) => {
    expect(configMessage(() => resolveOptions(withJwt({ algorithms })))).toMatch(
      /jwt.algorithms is required: list the algorithms your issuer signs with/,
    );
  });

  it.each(['none', 'None', 'NONE', 'HS1'])('refuses %s in jwt.algorithms', (alg) => {
    const message = configMessage(() =>
      resolveOptions(withJwt({ algorithms: ['HS256', alg as JwtAlgorithm] })),
    );
    expect(message).toContain(`'${alg}' is not supported`);
    expect(message).toContain("'none' is never accepted");
  });

  it('requires jwt.keys', () => {
    expect(configMessage(() => resolveOptions(withJwt({ keys: [] })))).toMatch(
      /jwt.keys is required/,
    );
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['an empty list', []],
    ['a list with an empty value', ['https://issuer.test/', '']],
  ])('requires jwt.issuer (%s)', (_name, issuer) => {
    expect(configMessage(() => resolveOptions(withJwt({ issuer })))).toMatch(
      /jwt.issuer is required/,
    );
  });

  it.each([
    ['missing', undefined],
    ['empty', ''],
    ['an empty list', []],
  ])('requires jwt.audience (%s)', (_name, audience) => {
    expect(configMessage(() => resolveOptions(withJwt({ audience })))).toMatch(
      /jwt.audience is required/,
    );
  });

  it('refuses a key whose algorithm is not in jwt.algorithms', () => {
    expect(
      configMessage(() => resolveOptions(withJwt({ algorithms: ['RS256', 'ES256'] }))),
    ).toMatch(/HS256, which is not in jwt.algorithms/);
  });
});

describe('resolveOptions: numbers and audit settings', () => {
  it.each([
    ['jwt.maxLifetimeMs', { maxLifetimeMs: 0 }],
    ['jwt.maxLifetimeMs', { maxLifetimeMs: -1 }],
    ['jwt.maxLifetimeMs', { maxLifetimeMs: Number.NaN }],
    ['jwt.maxLifetimeMs', { maxLifetimeMs: Number.POSITIVE_INFINITY }],
    ['jwt.clockToleranceMs', { clockToleranceMs: -1 }],
    ['jwt.maxClaimLength', { maxClaimLength: 0 }],
  ])('refuses a bad %s, naming it', (name, patch) => {
    expect(configMessage(() => resolveOptions(withJwt(patch)))).toContain(name);
  });

  it('allows a zero clock tolerance', () => {
    expect(resolveOptions(withJwt({ clockToleranceMs: 0 })).jwt?.clockToleranceMs).toBe(0);
  });

  it('refuses a non-positive credentials.maxTokenBytes', () => {
    expect(
      configMessage(() =>
        resolveOptions({ jwt: testJwtOptions(), credentials: { maxTokenBytes: 0 } }),
      ),
    ).toContain('credentials.maxTokenBytes');
  });

  it('refuses a fingerprint key shorter than 32 bytes', () => {
    expect(
      configMessage(() =>
        resolveOptions({ jwt: testJwtOptions(), audit: { fingerprintKey: 'x'.repeat(31) } }),
      ),
    ).toMatch(/audit.fingerprintKey must be at least 32 bytes/);
    expect(
      resolveOptions({ jwt: testJwtOptions(), audit: { fingerprintKey: Buffer.alloc(32, 1) } })
        .audit.fingerprintKey,
    ).toEqual(Buffer.alloc(32, 1));
  });

  it('refuses an unknown audit.clientAddress mode', () => {
    expect(
      configMessage(() =>
        resolveOptions({
          jwt: testJwtOptions(),
          audit: { clientAddress: 'full' as 'omit' },
        }),
      ),
    ).toMatch(/audit.clientAddress must be 'truncate', 'hash' or 'omit'/);
  });

  it.each([[''], ['p'.repeat(65)]])('refuses the purpose name %j', (purpose) => {
    expect(
      configMessage(() => resolveOptions({ jwt: testJwtOptions(), purposes: [purpose] })),
    ).toMatch(/must be 1 to 64 characters/);
  });
});

describe('resolveOptions: jwt.acceptedTypes', () => {
  it('accepts JWT and at+jwt by default, as media types', () => {
    const resolved = resolveOptions({ jwt: testJwtOptions() });
    expect([...resolved.jwt!.acceptedTypes!]).toEqual(['application/jwt', 'application/at+jwt']);
  });

  it('adds the listed types, lower case, application/ prepended where it is left out', () => {
    const resolved = resolveOptions(
      withJwt({ acceptedTypes: ['Example+JWT', 'application/x+jwt'] }),
    );
    expect([...resolved.jwt!.acceptedTypes!]).toEqual([
      'application/jwt',
      'application/at+jwt',
      'application/example+jwt',
      'application/x+jwt',
    ]);
  });

  it.each([
    ['not a list', 'at+jwt'],
    ['an empty name', ['']],
    ['a quote', ['at+jwt"']],
    ['a space', ['at jwt']],
    ['a parameter', ['at+jwt; q=1']],
    ['two slashes', ['a/b/c']],
    ['not a string', [1]],
  ])('refuses %s', (_name, acceptedTypes) => {
    expect(configMessage(() => resolveOptions(withJwt({ acceptedTypes })))).toMatch(
      /^jwt.acceptedTypes/,
    );
  });
});

describe('resolveOptions: realm', () => {
  it('keeps a printable realm, with spaces', () => {
    expect(resolveOptions({ jwt: testJwtOptions(), realm: 'orders api' }).realm).toBe('orders api');
  });

  it.each([
    ['a quote that would end the quoted string', 'api", error="none'],
    ['a backslash', 'api\\'],
    ['a line break that would split the header', 'api\r\nset-cookie: x=1'],
    ['a NUL', 'api\u0000'],
    ['a tab', 'a\tpi'],
    ['a non-ASCII character', 'äpi'],
    ['an empty string', ''],
    ['a number', 42],
  ])('refuses a realm with %s at start-up', (_name, realm) => {
    const message = configMessage(() =>
      resolveOptions({ jwt: testJwtOptions(), realm: realm as string }),
    );
    expect(message).toBe(
      "realm must be printable ASCII text without quotes or backslashes, e.g. 'api'",
    );
  });
});

describe('resolveOptions: defaults', () => {
  it('applies the documented defaults', () => {
    const resolved = resolveOptions({ jwt: testJwtOptions() });
    expect(resolved.jwt).toMatchObject({
      issuer: ['https://issuer.test/'],
      audience: ['tokenwarden-test-api'],
      maxLifetimeMs: 3_600_000,
      clockToleranceMs: 5_000,
      maxClaimLength: 256,
      permissionsClaim: undefined,
    });
    expect(resolved.extract).toEqual({
      header: 'authorization',
      cookie: undefined,
      queryParameter: undefined,
      maxTokenBytes: 8192,
      dpop: false,
    });
    expect(resolved.realm).toBe('api');
    expect(resolved.issuers).toBeUndefined();
    expect(resolved.dpop).toBeUndefined();
    expect(resolved.limits).toBeUndefined();
    // On by default: JSON lines on standard output.
    expect(resolved.audit).toMatchObject({
      sinks: [expect.objectContaining({ name: 'stdout' })],
      fingerprintKey: undefined,
      clientAddress: 'truncate',
    });
    expect(resolved.cache).toEqual({ tokens: 10_000, state: {} });
    expect(resolved.ownsStore).toBe(true);
    expect(resolved.metrics).toEqual({});
    expect(resolved.purposes.size).toBe(0);
  });

  it('turns both caches off with cache: false, and refuses nonsense sizes', () => {
    expect(resolveOptions({ jwt: testJwtOptions(), cache: false }).cache).toEqual({
      tokens: 0,
      state: false,
    });
    expect(() => resolveOptions({ jwt: testJwtOptions(), cache: { tokens: -1 } })).toThrow(
      /cache.tokens/,
    );
    expect(() =>
      resolveOptions({ jwt: testJwtOptions(), cache: { state: { maxEntries: 1.5 } } }),
    ).toThrow(/cache.state.maxEntries/);
    expect(() =>
      resolveOptions({ jwt: testJwtOptions(), cache: { state: { maxAgeMs: 0 } } }),
    ).toThrow(/cache.state.maxAgeMs/);
  });

  it('lower-cases the header name and reads purposes from a map', () => {
    const resolved = resolveOptions({
      jwt: testJwtOptions(),
      credentials: { header: 'X-Api-Token' },
      purposes: { marketing: { description: 'newsletters' }, research: {} },
    });
    expect(resolved.extract.header).toBe('x-api-token');
    expect([...resolved.purposes]).toEqual(['marketing', 'research']);
  });

  it('warns once when audit sinks run without a fingerprint key', async () => {
    const logger = memoryLogger();
    const warden = createWarden({
      jwt: testJwtOptions(),
      // Identifiers in clear by choice: the fingerprint key's warning is the only one.
      audit: { sinks: [new MemorySink()], subjectKeys: false },
      logger,
    });
    expect(logger.lines).toEqual([expect.stringMatching(/^warn: audit.fingerprintKey is not set/)]);
    await warden.close();
  });
});

describe('warden.requirement(): route requirements fail at start-up', () => {
  const wardens: Warden[] = [];
  afterEach(async () => {
    await Promise.all(wardens.splice(0).map((w) => w.close()));
  });
  function make(): Warden {
    const warden = createWarden({
      jwt: testJwtOptions(),
      purposes: ['marketing', 'billing'],
      logger: memoryLogger(),
    });
    wardens.push(warden);
    return warden;
  }

  it('returns a valid requirement unchanged', () => {
    const requirement: Requirement = {
      scopes: ['customers:read', 'orders/write', 'https://api.test/x'],
      consent: { purpose: 'marketing', subject: { param: 'id' } },
    };
    expect(make().requirement(requirement)).toBe(requirement);
  });

  it('refuses an unknown consent purpose, listing the declared ones', () => {
    const message = configMessage(() => make().requirement({ consent: { purpose: 'profiling' } }));
    expect(message).toContain("purpose 'profiling' is not declared");
    expect(message).toContain("add it to the 'purposes' option (declared: marketing, billing)");
  });

  it('refuses an unknown purpose on a lawful basis', () => {
    expect(
      configMessage(() => make().requirement({ lawfulBasis: { basis: 'contract', purpose: 'x' } })),
    ).toContain("purpose 'x' is not declared");
  });

  it('refuses consent and a lawful basis together', () => {
    expect(
      configMessage(() =>
        make().requirement({
          consent: { purpose: 'marketing' },
          lawfulBasis: { basis: 'contract' },
        }),
      ),
    ).toMatch(/both consent and another lawful basis; choose one/);
  });

  it('refuses an unknown lawful basis', () => {
    expect(
      configMessage(() => make().requirement({ lawfulBasis: { basis: 'consent' as LawfulBasis } })),
    ).toMatch(/lawful basis 'consent' is unknown/);
  });

  it.each([['a b'], [''], ['a"b'], ['a\\b'], ['caf\u00e9'], ['a\tb'], ['x\u0000']])(
    'refuses the scope name %j',
    (scope) => {
      expect(configMessage(() => make().requirement({ scopes: [scope] }))).toMatch(
        /is not a valid scope name/,
      );
    },
  );

  it('refuses a consent subject that is neither a function nor { param }', () => {
    const subject = { param: 1 } as unknown as { param: string };
    expect(
      configMessage(() => make().requirement({ consent: { purpose: 'marketing', subject } })),
    ).toMatch(/'subject' must be a function or \{ param: 'name' \}/);
  });

  it('refuses an unknown purpose in check() too, rather than allowing', async () => {
    const warden = make();
    await expect(
      warden.check(
        { method: 'GET', path: '/', url: '/', headerValues: () => undefined },
        { consent: { purpose: 'nope' } },
      ),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  it('refuses consent changes for an undeclared purpose', async () => {
    const warden = make();
    await expect(warden.grantConsent({ subject: 's', purpose: 'nope' })).rejects.toBeInstanceOf(
      ConfigError,
    );
    await expect(warden.withdrawConsent({ subject: 's', purpose: 'nope' })).rejects.toBeInstanceOf(
      ConfigError,
    );
  });
});

describe('resolveOptions: claim options', () => {
  it('defaults to the strict profile', () => {
    expect(resolveOptions({ jwt: testJwtOptions() }).jwt).toMatchObject({
      requireTokenId: true,
      scopeClaimFormat: 'string',
      audienceClaim: 'aud',
      clientClaim: undefined,
      permissionsClaim: undefined,
    });
  });

  it('keeps a valid profile', () => {
    const jwt = resolveOptions(
      withJwt({
        requireTokenId: false,
        scopeClaimFormat: 'string-or-array',
        audienceClaim: 'client_id',
        clientClaim: 'cid',
        permissionsClaim: ['scp', '/realm_access/roles', 'https://example.com/roles'],
      }),
    ).jwt;
    expect(jwt).toMatchObject({
      requireTokenId: false,
      scopeClaimFormat: 'string-or-array',
      audienceClaim: 'client_id',
      clientClaim: 'cid',
      permissionsClaim: ['scp', '/realm_access/roles', 'https://example.com/roles'],
    });
  });

  it.each<[string, Record<string, unknown>, string]>([
    ['requireTokenId', { requireTokenId: 'no' }, 'jwt.requireTokenId must be true or false'],
    [
      'scopeClaimFormat',
      { scopeClaimFormat: 'array' },
      "jwt.scopeClaimFormat must be 'string' or 'string-or-array'",
    ],
    [
      'audienceClaim',
      { audienceClaim: '' },
      "jwt.audienceClaim must be a claim name, e.g. 'permissions'",
    ],
    [
      'audienceClaim as a pointer',
      { audienceClaim: '/a/b' },
      "jwt.audienceClaim must be a top-level claim name, without '/'",
    ],
    [
      'clientClaim',
      { clientClaim: 42 },
      "jwt.clientClaim must be a claim name, e.g. 'permissions'",
    ],
    [
      'an empty permissionsClaim list',
      { permissionsClaim: [] },
      'jwt.permissionsClaim must name at least one claim',
    ],
    [
      'a permissionsClaim pointer with an empty step',
      { permissionsClaim: '/realm_access//roles' },
      "jwt.permissionsClaim: '/realm_access//roles' is not a JSON Pointer to a claim; write e.g. '/realm_access/roles'",
    ],
  ])('refuses a bad %s at start-up', (_name, patch, message) => {
    expect(configMessage(() => resolveOptions(withJwt(patch)))).toBe(message);
  });

  it('checks the same options of trusted issuers, named by their place', () => {
    const issuer = { issuer: 'https://idp.example/', audience: 'api', algorithms: ['RS256'] };
    expect(
      configMessage(() =>
        createWarden({
          issuers: [issuer, { ...issuer, issuer: 'https://other.example/', scopeClaimFormat: 'x' }],
        } as unknown as WardenOptions),
      ),
    ).toBe("issuers[1].scopeClaimFormat must be 'string' or 'string-or-array'");
  });
});

describe('unknown options are refused at start-up, with the nearest name', () => {
  const issuer = { issuer: 'https://idp.example/', audience: 'api', algorithms: ['RS256'] };

  it.each<[string, Record<string, unknown>, string]>([
    [
      'a top-level typo',
      { purpose: ['marketing'] },
      "unknown option 'purpose'; did you mean 'purposes'?",
    ],
    [
      'another case',
      { PublicPaths: [] },
      "unknown option 'PublicPaths'; did you mean 'publicPaths'?",
    ],
    [
      'a name far from any option',
      { frobnicate: true },
      "unknown option 'frobnicate'; the options here are 'jwt', 'issuers', 'dpop', 'limits', 'store', 'purposes', 'policy', 'credentials', 'publicPaths', 'credentialsRequired', 'audit', 'metrics', 'cache', 'apiKeys', 'realm', 'logger', 'clock', 'retention'",
    ],
    [
      'in jwt',
      { jwt: { ...testJwtOptions(), algorithm: ['RS256'] } },
      "unknown option 'jwt.algorithm'; did you mean 'jwt.algorithms'?",
    ],
    [
      'in jwt (a name cut short)',
      { jwt: { ...testJwtOptions(), permissions: 'permissions' } },
      "unknown option 'jwt.permissions'; did you mean 'jwt.permissionsClaim'?",
    ],
    [
      'in jwt (a claim option)',
      { jwt: { ...testJwtOptions(), requireTokenID: false } },
      "unknown option 'jwt.requireTokenID'; did you mean 'jwt.requireTokenId'?",
    ],
    [
      'in credentials',
      { credentials: { cookies: 'session' } },
      "unknown option 'credentials.cookies'; did you mean 'credentials.cookie'?",
    ],
    [
      'in cache',
      { cache: { token: 10 } },
      "unknown option 'cache.token'; did you mean 'cache.tokens'?",
    ],
    [
      'in cache.state',
      { cache: { state: { maxEntry: 10 } } },
      "unknown option 'cache.state.maxEntry'; did you mean 'cache.state.maxEntries'?",
    ],
    [
      'in audit',
      { audit: { sink: [] } },
      "unknown option 'audit.sink'; did you mean 'audit.sinks'?",
    ],
    [
      'in dpop',
      { dpop: { publicorigin: 'https://api.example.com' } },
      "unknown option 'dpop.publicorigin'; did you mean 'dpop.publicOrigin'?",
    ],
    [
      'in dpop.nonce',
      {
        dpop: {
          publicOrigin: 'https://api.example.com',
          nonce: { secret: 'x'.repeat(32), lifetime: 1000 },
        },
      },
      "unknown option 'dpop.nonce.lifetime'; did you mean 'dpop.nonce.lifetimeMs'?",
    ],
    [
      'in limits',
      { limits: { rule: [] } },
      "unknown option 'limits.rule'; did you mean 'limits.rules'?",
    ],
    [
      'in a limit rule',
      { limits: { rules: [{ name: 'm', by: 'token', limit: 1, window: 1000 }] } },
      "unknown option 'limits.rules[0].window'; did you mean 'limits.rules[0].windowMs'?",
    ],
    [
      'in apiKeys',
      { apiKeys: { store: {}, environment: ['live'] } },
      "unknown option 'apiKeys.environment'; did you mean 'apiKeys.environments'?",
    ],
    [
      'in metrics',
      { metrics: { prefx: 'x_' } },
      "unknown option 'metrics.prefx'; did you mean 'metrics.prefix'?",
    ],
    [
      'in a trusted issuer',
      {
        jwt: undefined,
        issuers: [issuer, { ...issuer, issuer: 'https://b.example/', audiance: 'x' }],
      },
      "unknown option 'issuers[1].audiance'; did you mean 'issuers[1].audience'?",
    ],
    [
      "in a trusted issuer's key source",
      { jwt: undefined, issuers: [{ ...issuer, keySource: { timeout: 100 } }] },
      "unknown option 'issuers[0].keySource.timeout'; did you mean 'issuers[0].keySource.timeoutMs'?",
    ],
  ])('%s', (_name, patch, message) => {
    const options = { jwt: testJwtOptions(), logger: memoryLogger(), ...patch } as WardenOptions;
    expect(configMessage(() => createWarden(options))).toBe(message);
  });

  it('leaves class instances alone and ignores keys set to undefined', async () => {
    const warden = createWarden({
      jwt: testJwtOptions(),
      logger: memoryLogger(),
      store: new MemoryStore(),
      limits: new UsageLimits({ rules: [{ name: 'm', by: 'token', limit: 5, windowMs: 1000 }] }),
      ...({ purpose: undefined } as object),
    });
    expect(warden.store).toBeInstanceOf(MemoryStore);
    await warden.close();
  });

  it('refuses unknown options of TrustedIssuers and createAdmin too', () => {
    expect(
      configMessage(
        () =>
          new TrustedIssuers({
            issuers: [issuer],
            permissionClaim: 'permissions',
          } as unknown as TrustedIssuersOptions),
      ),
    ).toBe("unknown option 'permissionClaim'; did you mean 'permissionsClaim'?");
    expect(
      configMessage(() =>
        createAdmin({
          store: new MemoryStore(),
          purpose: ['marketing'],
        } as unknown as AdminOptions),
      ),
    ).toBe("unknown option 'purpose'; did you mean 'purposes'?");
    expect(
      configMessage(() =>
        createAdmin({ store: new MemoryStore(), audit: { sinc: [] } } as unknown as AdminOptions),
      ),
    ).toBe("unknown option 'audit.sinc'; did you mean 'audit.sinks'?");
  });

  it('holds each list of option names to its interface when compiling', () => {
    const keys = optionKeys<CacheOptions>();
    expect(keys(['tokens', 'state'])).toEqual(['tokens', 'state']);
    // @ts-expect-error a name CacheOptions does not have
    keys(['tokens', 'state', 'token']);
    // @ts-expect-error an option of CacheOptions the list lacks
    keys(['tokens']);
  });
});
