import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from '@jest/globals';
import {
  ApiKeys,
  ConfigError,
  createWarden,
  MemoryCredentialStore,
  MemorySink,
  type Warden,
  type WardenOptions,
} from '@tokenwarden/core';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { bearer, view } from '../support';

/** Credentials seen in the query string, through the whole warden. */
describe('credentials.onExposure', () => {
  let warden: Warden | undefined;
  afterEach(() => warden?.close());

  function make(options: Partial<WardenOptions> = {}) {
    const sink = new MemorySink();
    const credentials = new MemoryCredentialStore();
    warden = createWarden({
      jwt: testJwtOptions(),
      apiKeys: { store: credentials },
      audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
      logger: { warn() {}, error() {} },
      ...options,
    });
    const w = warden;
    const exposed = async () => {
      await w.flushAudit();
      return sink.events.filter((e) => e.type === 'credential.exposed');
    };
    return { warden: w, sink, credentials, exposed };
  }

  const inQuery = (token: string, path = '/orders') =>
    view({ path, url: `${path}?access_token=${encodeURIComponent(token)}` });

  it('records only by default: the token keeps working from the header', async () => {
    const { warden, exposed } = make();
    const token = mintToken();
    expect(await warden.check(inQuery(token))).toMatchObject({ code: 'token_missing' });
    expect(await warden.metrics.render()).toMatch(
      /^tokenwarden_credential_exposed_total\{place="query"\} 1$/m,
    );
    expect(await exposed()).toMatchObject([{ detail: { action: 'recorded' } }]);
    expect((await warden.check(bearer(token))).outcome).toBe('allow');
  });

  it("'revoke' revokes a JWT of the warden's own keys by jti, and refuses it from then on", async () => {
    const { warden, exposed } = make({ credentials: { onExposure: 'revoke' } });
    const token = mintToken({ claims: { jti: 'exposed-1' } });
    expect(await warden.check(inQuery(token))).toMatchObject({ code: 'token_missing' });
    expect(await warden.check(bearer(token))).toMatchObject({ code: 'token_revoked' });
    const [event] = await exposed();
    expect(event).toMatchObject({
      tokenId: 'exposed-1',
      subject: 'user-1',
      detail: { action: 'revoked', kind: 'jwt' },
    });
    expect(JSON.stringify(event)).not.toContain(token);
  });

  it("'revoke' leaves a JWT it cannot verify alone, and still refuses the request", async () => {
    const { warden, sink, exposed } = make({ credentials: { onExposure: 'revoke' } });
    const foreign = mintToken({ claims: { iss: 'https://elsewhere.test/', jti: 'foreign-1' } });
    expect(await warden.check(inQuery(foreign))).toMatchObject({ code: 'token_missing' });
    expect(await exposed()).toMatchObject([{ detail: { action: 'not_found' } }]);
    // Nothing was revoked: no revocation counted, no revocation event.
    expect(await warden.metrics.render()).not.toMatch(/^tokenwarden_revocations_total\{/m);
    await warden.flushAudit();
    expect(sink.events.filter((e) => e.type === 'token.revoked')).toEqual([]);
  });

  it("'revoke' revokes an API key by hash, next to a header credential (token_multiple)", async () => {
    const { warden, credentials } = make({ credentials: { onExposure: 'revoke' } });
    const keys = new ApiKeys({ store: credentials, audit: warden, revoker: warden });
    const { key, record } = await keys.create({ client: 'billing', scopes: ['orders:read'] });
    const other = mintToken();
    const both = view({
      url: `/orders?access_token=${key}`,
      headers: { authorization: `Bearer ${other}` },
    });
    expect(await warden.check(both)).toMatchObject({ code: 'token_multiple' });
    expect((await credentials.getApiKey(record.keyId))?.revokedAt).toBeDefined();
    expect(await warden.check(bearer(key))).toMatchObject({ code: 'token_revoked' });
  });

  it('refuses an unknown onExposure value at start-up', () => {
    expect(() =>
      createWarden({
        jwt: testJwtOptions(),
        credentials: { onExposure: 'delete' as 'revoke' },
        audit: false,
      }),
    ).toThrow(ConfigError);
  });
});
