import { randomBytes, randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';

export const ISSUER = 'https://demo-issuer.tokenwarden.test/';
export const AUDIENCE = 'customers-api';
export const KEY_ID = 'demo-1';

/** HS256 secret of the demo issuer: DEMO_JWT_SECRET (base64url), else 32 random bytes. */
export function demoSecret(env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env.DEMO_JWT_SECRET;
  return fromEnv ? Buffer.from(fromEnv, 'base64url') : randomBytes(32);
}

/** What POST /demo/token answers. */
export type DemoTokenReply =
  | { readonly status: 200; readonly body: { access_token: string; expires_in: number } }
  | { readonly status: 400; readonly body: { error: string } };

/** Mints tokens as the demo's identity provider would. A real API gets them from its IdP. */
export class DemoIssuer {
  constructor(readonly secret: Buffer) {}

  issue(subject: string, scopes: readonly string[], client = 'support-console'): string {
    return jwt.sign(
      { scope: scopes.join(' '), client_id: client, jti: randomUUID() },
      this.secret,
      {
        algorithm: 'HS256',
        keyid: KEY_ID,
        issuer: ISSUER,
        audience: AUDIENCE,
        subject,
        expiresIn: '10m',
      },
    );
  }

  /** The answer to a POST /demo/token body `{ subject, scopes: [...], client? }`. Demo only. */
  reply(body: unknown): DemoTokenReply {
    const request = (typeof body === 'object' && body !== null ? body : {}) as {
      subject?: unknown;
      scopes?: unknown;
      client?: unknown;
    };
    if (typeof request.subject !== 'string' || !Array.isArray(request.scopes)) {
      return { status: 400, body: { error: 'give { subject, scopes: [...] }' } };
    }
    const scopes = request.scopes.filter((s): s is string => typeof s === 'string');
    const client = typeof request.client === 'string' ? request.client : undefined;
    return {
      status: 200,
      body: { access_token: this.issue(request.subject, scopes, client), expires_in: 600 },
    };
  }
}
