import { createHmac, randomBytes } from 'node:crypto';

/**
 * Settings shared by the crash and shutdown tests (kill.test.ts, shutdown.test.ts) and the
 * application processes they stop (kill-app.ts, shutdown-app.ts).
 */
export const KILL_ISSUER = 'https://issuer.kill.test/';
export const KILL_AUDIENCE = 'kill-test-api';

/** An HS256 token the test apps accept, signed with `secret`, issued to `client`. */
export function testAppToken(secret: Buffer, client: string): string {
  const iat = Math.floor(Date.now() / 1000);
  const segment = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${segment({ alg: 'HS256', typ: 'JWT', kid: 'kill-1' })}.${segment({
    iss: KILL_ISSUER,
    aud: KILL_AUDIENCE,
    sub: 'user-1',
    client_id: client,
    jti: randomBytes(8).toString('hex'),
    iat,
    exp: iat + 600,
    scope: 'data:read',
  })}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}
