import { randomUUID } from 'node:crypto';
import jwt from 'jsonwebtoken';

export const ISSUER = 'https://demo-issuer.tokenwarden.test/';
export const AUDIENCE = 'customers-api';
export const KEY_ID = 'demo-1';

/** Mints tokens as the demo's identity provider would. A real API gets them from its IdP. */
export class DemoIssuer {
  constructor(private readonly secret: Buffer) {}

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
}
