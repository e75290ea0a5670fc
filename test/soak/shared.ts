import { createHmac } from 'node:crypto';

/** Issuer, audience and purpose of the soak run's tokens. */
export const SOAK_ISSUER = 'https://issuer.soak.test/';
export const SOAK_AUDIENCE = 'tokenwarden-soak';
export const SOAK_PURPOSE = 'marketing';

/** Claims of a soak token; times in epoch seconds. */
export interface SoakClaims {
  readonly sub: string;
  readonly jti: string;
  readonly scope: string;
  readonly iat: number;
  readonly exp: number;
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const HEADER = b64({ alg: 'HS256', typ: 'JWT', kid: 'soak-1' });

/** An HS256 token for the soak servers (signed here: cheaper than jsonwebtoken for 20k tokens). */
export function soakToken(secret: Buffer, claims: SoakClaims): string {
  const input = `${HEADER}.${b64({ iss: SOAK_ISSUER, aud: SOAK_AUDIENCE, client_id: 'soak', ...claims })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
