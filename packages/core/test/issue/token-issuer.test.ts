import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { FakeClock } from '@tokenwarden/testing';
import {
  ConfigError,
  IssueError,
  staticSigningKey,
  TokenIssuer,
  type AuditEventInput,
  type TokenIssuerOptions,
} from '@tokenwarden/core';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const clock = new FakeClock(Date.UTC(2030, 0, 1, 12));

function make(overrides: Partial<TokenIssuerOptions> = {}) {
  const events: AuditEventInput[] = [];
  const issued: string[] = [];
  const issuer = new TokenIssuer({
    issuer: 'https://issuer.test/',
    audience: 'customers-api',
    keys: staticSigningKey({ kid: 'k1', alg: 'ES256', key: privateKey }),
    clients: {
      crm: { scopes: ['customers:read', 'orders:read'], maxTokenLifetimeMs: 600_000 },
      batch: { scopes: ['orders:read'] },
    },
    maxTokenLifetimeMs: 900_000,
    audit: { recordEvent: (e) => events.push(e) },
    metrics: { tokenIssued: (c: string) => issued.push(c) } as never,
    clock,
    ...overrides,
  });
  return { issuer, events, issued };
}

function claimsOf(token: string): Record<string, unknown> {
  return jwt.verify(token, publicKey, {
    algorithms: ['ES256'],
    clockTimestamp: clock.now() / 1000,
  }) as Record<string, unknown>;
}

describe('TokenIssuer', () => {
  it('mints a signed JWT with jti, iat, exp within the client lifetime and the scopes asked', () => {
    const { issuer } = make();
    const out = issuer.issue({ client: 'crm', scopes: ['customers:read'] });
    const claims = claimsOf(out.token);
    expect(claims).toMatchObject({
      iss: 'https://issuer.test/',
      aud: 'customers-api',
      sub: 'crm',
      client_id: 'crm',
      scope: 'customers:read',
      jti: out.tokenId,
      iat: clock.now() / 1000,
      exp: clock.now() / 1000 + 600,
    });
    expect(jwt.decode(out.token, { complete: true })?.header).toMatchObject({
      alg: 'ES256',
      kid: 'k1',
      typ: 'at+jwt',
    });
    expect(out).toMatchObject({ kid: 'k1', expiresAt: clock.now() + 600_000 });
  });

  it('defaults to every allowed scope, caps the lifetime, and takes a subject', () => {
    const { issuer } = make();
    const out = issuer.issue({ client: 'crm', subject: 'agent-7', lifetimeMs: 3_600_000 });
    expect(out.scopes).toEqual(['customers:read', 'orders:read']);
    expect(out.expiresAt - out.issuedAt).toBe(600_000);
    expect(claimsOf(out.token).sub).toBe('agent-7');
    const short = issuer.issue({ client: 'crm', lifetimeMs: 60_000 });
    expect(short.expiresAt - short.issuedAt).toBe(60_000);
    // A client without its own maximum gets the global cap.
    const batch = issuer.issue({ client: 'batch' });
    expect(batch.expiresAt - batch.issuedAt).toBe(900_000);
  });

  it('refuses scopes outside the client set and unknown clients, with a failure event', () => {
    const { issuer, events } = make();
    expect(() => issuer.issue({ client: 'crm', scopes: ['customers:write'] })).toThrow(IssueError);
    try {
      issuer.issue({ client: 'crm', scopes: ['customers:read', 'admin'] });
    } catch (error) {
      expect((error as IssueError).error).toBe('invalid_scope');
    }
    try {
      issuer.issue({ client: 'intruder' });
    } catch (error) {
      expect((error as IssueError).error).toBe('unauthorized_client');
    }
    expect(events).toEqual([
      { type: 'token.issued', outcome: 'failure', reason: 'invalid_scope', client: 'crm' },
      { type: 'token.issued', outcome: 'failure', reason: 'invalid_scope', client: 'crm' },
      { type: 'token.issued', outcome: 'failure', reason: 'unauthorized_client' },
    ]);
  });

  it('records each issuance as an audit event and a metric, never with the token', () => {
    const { issuer, events, issued } = make();
    const out = issuer.issue({ client: 'crm', scopes: ['orders:read'], actor: 'crm' });
    expect(events).toEqual([
      {
        type: 'token.issued',
        outcome: 'success',
        tokenId: out.tokenId,
        subject: 'crm',
        client: 'crm',
        scopes: ['orders:read'],
        actor: 'crm',
        detail: {
          kid: 'k1',
          expiresAt: new Date(out.expiresAt).toISOString(),
          lifetimeSeconds: 600,
        },
      },
    ]);
    expect(JSON.stringify(events)).not.toContain(out.token.split('.')[2]);
    expect(issued).toEqual(['crm']);
  });

  it('refuses a client lifetime above the global cap at start-up', () => {
    expect(() =>
      make({ clients: { crm: { scopes: ['a'], maxTokenLifetimeMs: 3_600_000 } } }),
    ).toThrow(ConfigError);
    expect(() => make({ clients: { 'has space': { scopes: ['a'] } } })).toThrow(ConfigError);
    expect(() => make({ audience: [] })).toThrow(/audience is required/);
  });
});
