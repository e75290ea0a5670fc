import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  ConfigError,
  createSecretSource,
  createWarden,
  MemorySigningKeyStore,
  SigningKeyRing,
  TokenIssuer,
} from '@tokenwarden/core';
import {
  checkPolicy,
  clientSecretsFromPolicy,
  formatDiagnostic,
  issuerClientsFromPolicy,
  loadPolicyFile,
  masterKeysFromPolicy,
  refreshTokenClientsFromPolicy,
  refreshTokenOptionsFromPolicy,
  wardenOptionsFromPolicy,
  type PolicyDiagnostic,
} from '@tokenwarden/core/policy';
import { randomBytes, generateKeyPairSync } from 'node:crypto';

const fixture = (name: string) => join(__dirname, 'fixtures', name);
const read = (name: string) => readFileSync(fixture(name), 'utf8');
const brief = (d: PolicyDiagnostic) => `${d.line}:${d.column} ${d.severity} ${d.path}`;

describe('checkPolicy', () => {
  it('accepts a complete policy and resolves durations to ms', () => {
    const result = checkPolicy(read('valid.policy.yaml'));
    expect(result.diagnostics).toEqual([]);
    const policy = result.policy!;
    expect(policy.limits).toEqual({
      maxTokenLifetimeMs: 900_000,
      maxApiKeyAgeMs: 90 * 86_400_000,
      clockToleranceMs: 5_000,
      refreshTokenLifetimeMs: 14 * 86_400_000,
      refreshFamilyLifetimeMs: 30 * 86_400_000,
    });
    expect(policy.signing).toMatchObject({
      algorithm: 'ES256',
      rotationPeriodMs: 30 * 86_400_000,
      activationDelayMs: 120_000,
      masterKey: { env: 'TOKENWARDEN_MASTER_KEY' },
    });
    expect(policy.clients['support-console']).toMatchObject({
      maxTokenLifetimeMs: 600_000,
      apiKeyMaxAgeMs: 30 * 86_400_000,
    });
    // A client without its own limits gets the global ones.
    expect(policy.clients.batch).toMatchObject({ maxTokenLifetimeMs: 900_000 });
    expect(policy.routes?.[1]).toEqual({
      method: 'GET',
      path: '/customers/:id/orders',
      scopes: ['orders:read'],
      purpose: 'order_fulfilment',
      dataSubject: { param: 'id' },
    });
    expect(policy.scopes['orders:read']?.dataCategories).toEqual(['purchase_history']);
  });

  it('names the line and the fix of each mistake', () => {
    const result = checkPolicy(read('broken.policy.yaml'));
    expect(result.policy).toBeUndefined();
    const byPath = Object.fromEntries(result.diagnostics.map((d) => [d.path, d]));
    expect(brief(byPath['clients.crm.scopes[1]']!)).toBe('23:30 error clients.crm.scopes[1]');
    expect(byPath['clients.crm.scopes[1]']!.message).toBe(
      "unknown scope 'orders:wirte'; declare it under scopes or fix the name (did you mean 'orders:write'?)",
    );
    expect(brief(byPath['clients.crm.maxTokenLifetime']!)).toBe(
      '24:23 error clients.crm.maxTokenLifetime',
    );
    expect(byPath['clients.crm.maxTokenLifetime']!.message).toMatch(
      /above the global cap limits.maxTokenLifetime \(15m\); lower it to at most 15m/,
    );
    expect(byPath['routes[0].purpose']).toMatchObject({ line: 29, column: 14, severity: 'error' });
    expect(byPath['routes[0].purpose']!.message).toMatch(/did you mean 'marketing'/);
    expect(byPath['scopes.archive:read']).toMatchObject({ line: 15, severity: 'warning' });
    expect(
      result.diagnostics.filter((d) => d.path === 'scopes.archive:read').map((d) => d.message),
    ).toEqual([
      "scope 'archive:read' is used by no route; remove it or add it to the route that needs it",
      "scope 'archive:read' is granted to no client; remove it or grant it to a client",
    ]);
    expect(
      result.diagnostics.find(
        (d) => d.path === 'scopes.orders:write' && /personal data/.test(d.message),
      ),
    ).toMatchObject({ line: 13, severity: 'warning' });
    expect(result.diagnostics.find((d) => d.path === 'signing')?.message).toMatch(/rotationPeriod/);
    // Findings come in file order.
    const lines = result.diagnostics.map((d) => d.line);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
  });

  it('refuses secrets written into the policy and unknown fields, in JSON too', () => {
    const result = checkPolicy(read('inline-secret.policy.json'));
    expect(result.policy).toBeUndefined();
    const messages = result.diagnostics.map((d) => `${d.line} ${d.path}: ${d.message}`);
    expect(messages).toContain(
      '7 clients.crm.secret: secrets never live in the policy: name where to read it, as { env: VARIABLE }, { file: /path } or { source: vault, name: path }',
    );
    expect(messages).toContain(
      "7 clients.crm.lifetime: unknown field 'lifetime'; remove it or fix its name",
    );
    expect(JSON.stringify(result)).not.toContain('hunter2');
  });

  it('reports YAML syntax errors with their position', () => {
    const result = checkPolicy('version: 1\nscopes: [a\n');
    expect(result.policy).toBeUndefined();
    expect(result.diagnostics[0]).toMatchObject({ severity: 'error' });
    expect(result.diagnostics[0]!.line).toBeGreaterThanOrEqual(2);
  });

  it('formats findings as file:line:col', () => {
    const d = checkPolicy(read('broken.policy.yaml')).diagnostics[0]!;
    expect(formatDiagnostic('p.yaml', d)).toMatch(/^p\.yaml:\d+:\d+: (error|warning) /);
  });
});

describe('loadPolicyFile and the options it drives', () => {
  it('throws a ConfigError listing every error with its line', () => {
    expect(() => loadPolicyFile(fixture('broken.policy.yaml'))).toThrow(ConfigError);
    expect(() => loadPolicyFile(fixture('broken.policy.yaml'))).toThrow(
      /broken\.policy\.yaml:23:30: error clients\.crm\.scopes\[1\]/,
    );
    expect(() => loadPolicyFile(fixture('missing.yaml'))).toThrow(/ENOENT/);
  });

  it('configures a warden, an issuer, client secrets and master keys from the policy', async () => {
    const policy = loadPolicyFile(fixture('valid.policy.yaml'));
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const options = wardenOptionsFromPolicy(policy, {
      keys: [{ kid: 'k1', alg: 'ES256', key: publicKey }],
      metrics: false,
    });
    expect(options.jwt).toMatchObject({
      algorithms: ['ES256'],
      issuer: 'https://api.example.test/',
      audience: 'customers-api',
      maxLifetimeMs: 900_000,
    });
    expect(Object.keys(options.purposes as object)).toEqual(['marketing', 'order_fulfilment']);
    // The policy's routes are enforced by the warden made from these options.
    expect(options.policy).toBe(policy);
    const warden = createWarden(options);
    await warden.close();
    expect(issuerClientsFromPolicy(policy)['support-console']).toEqual({
      scopes: ['customers:read', 'orders:read'],
      maxTokenLifetimeMs: 600_000,
    });
    const master = randomBytes(32).toString('base64url');
    const secrets = createSecretSource({
      env: { SUPPORT_CONSOLE_SECRET: 's'.repeat(32), TOKENWARDEN_MASTER_KEY: master },
    });
    const keys = await masterKeysFromPolicy(policy, secrets);
    expect(keys.current.key.toString('base64url')).toBe(master);
    expect(keys.previous).toEqual([]);
    // batch's secret file does not exist: the error names the file, not a value.
    await expect(clientSecretsFromPolicy(policy, secrets)).rejects.toThrow(/\/run\/secrets\/batch/);
  });

  it('drives EdDSA signing and verification: signing.algorithm EdDSA, a ring as the keys', async () => {
    const text = read('valid.policy.yaml').replace('algorithm: ES256', 'algorithm: EdDSA');
    const policy = checkPolicy(text).policy!;
    expect(policy.signing.algorithm).toBe('EdDSA');
    const ring = new SigningKeyRing({
      store: new MemorySigningKeyStore(),
      algorithm: policy.signing.algorithm,
      maxTokenLifetimeMs: policy.limits.maxTokenLifetimeMs,
    });
    await ring.start();
    const warden = createWarden(wardenOptionsFromPolicy(policy, { keys: ring, metrics: false }));
    const issuer = new TokenIssuer({
      issuer: policy.issuer,
      audience: policy.audience,
      keys: ring,
      clients: issuerClientsFromPolicy(policy),
      maxTokenLifetimeMs: policy.limits.maxTokenLifetimeMs,
    });
    const { token } = issuer.issue({ client: 'batch' });
    const decision = await warden.check({
      method: 'GET',
      path: '/x',
      url: '/x',
      headerValues: (name) => (name === 'authorization' ? [`Bearer ${token}`] : undefined),
    });
    expect(decision).toMatchObject({ outcome: 'allow', principal: { client: 'batch' } });
    expect(ring.jwks().keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA' });
    await warden.close();
    await ring.close();
  });

  it('declares refresh tokens: the clients that receive them and their lifetimes', () => {
    const text = read('valid.policy.yaml')
      .replace(
        '  maxApiKeyAge: 90d',
        '  maxApiKeyAge: 90d\n  refreshTokenLifetime: 7d\n  refreshFamilyLifetime: 60d',
      )
      .replace(
        '    secret: { env: SUPPORT_CONSOLE_SECRET }',
        '    secret: { env: SUPPORT_CONSOLE_SECRET }\n    refreshTokens: true',
      );
    const policy = checkPolicy(text).policy!;
    expect(refreshTokenClientsFromPolicy(policy)).toEqual(['support-console']);
    expect(refreshTokenOptionsFromPolicy(policy)).toEqual({
      tokenTtlMs: 7 * 86_400_000,
      familyTtlMs: 60 * 86_400_000,
    });
    // A refresh-token client must authenticate: without a secret it is an error on its line.
    const noSecret = checkPolicy(
      text.replace('    secret: { file: /run/secrets/batch }', '    refreshTokens: true'),
    );
    expect(noSecret.policy).toBeUndefined();
    const finding = noSecret.diagnostics.find((d) => d.path === 'clients.batch.refreshTokens')!;
    expect(brief(finding)).toBe('39:20 error clients.batch.refreshTokens');
    expect(finding.message).toMatch(/has no secret/);
    const inverted = checkPolicy(
      text.replace('refreshFamilyLifetime: 60d', 'refreshFamilyLifetime: 1d'),
    );
    expect(inverted.diagnostics.map((d) => `${d.severity} ${d.path}`)).toContain(
      'warning limits.refreshTokenLifetime',
    );
  });
});
