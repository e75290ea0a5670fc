import { expect } from '@jest/globals';
import request from 'supertest';

/** What the refresh scenario needs: an app serving `POST /oauth/token` and a protected route. */
export interface RefreshScenarioApp {
  /** The app or server supertest drives. */
  readonly server: Parameters<typeof request>[0];
  /** A client that receives refresh tokens with client credentials, and its secret. */
  readonly client: string;
  readonly secret: string;
  /** A route the issued tokens may read (needs their scope). */
  readonly protectedPath: string;
  /** How the form is sent. Default: `'form'`. */
  readonly type?: 'form' | 'json';
}

/**
 * The refresh_token grant through an adapter: rotation, narrowing only, reuse detection revoking
 * the family's access tokens (the warden then refuses them), RFC 6749 errors.
 */
export async function refreshGrantScenario(app: RefreshScenarioApp): Promise<void> {
  const token = (body: Record<string, string>) =>
    request(app.server)
      .post('/oauth/token')
      .auth(app.client, app.secret)
      .type(app.type ?? 'form')
      .send(body);
  const read = (answer: { body: { access_token?: string } }) =>
    request(app.server)
      .get(app.protectedPath)
      .set('authorization', `Bearer ${answer.body.access_token ?? ''}`);
  const first = await token({ grant_type: 'client_credentials' });
  expect(first.status).toBe(200);
  expect(first.body.refresh_token).toMatch(/^twr_live_/);
  const second = await token({
    grant_type: 'refresh_token',
    refresh_token: first.body.refresh_token,
  });
  expect(second.status).toBe(200);
  expect(second.headers['cache-control']).toBe('no-store');
  expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
  expect((await read(second)).status).toBe(200);
  expect((await read(first)).status).toBe(200);
  const wider = await token({
    grant_type: 'refresh_token',
    refresh_token: second.body.refresh_token,
    scope: 'customers:read orders:read',
  });
  expect([wider.status, wider.body.error]).toEqual([400, 'invalid_scope']);
  const replay = await token({
    grant_type: 'refresh_token',
    refresh_token: first.body.refresh_token,
  });
  expect([replay.status, replay.body.error]).toEqual([400, 'invalid_grant']);
  // Reuse revoked the family: both access tokens issued from it are refused by the warden.
  for (const answer of [first, second]) {
    const refused = await read(answer);
    expect(refused.status).toBe(401);
    expect(JSON.stringify(refused.body)).toContain('token_revoked');
  }
  const missing = await token({ grant_type: 'refresh_token' });
  expect([missing.status, missing.body.error]).toEqual([400, 'invalid_request']);
}
