import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiKeys,
  ConfigError,
  createWarden,
  MemoryCredentialStore,
  MemorySink,
  RefreshTokens,
  SecretScanning,
  type Warden,
} from '@tokenwarden/core';
import { answerSecretScanning, type HandlerAnswer } from '@tokenwarden/core/internal';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { bearer } from '../support';

/** The scanner's signing key, made for this run; its public half is what the warden trusts. */
const scanner = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const KEY_ID = createHash('sha256').update('scanner-key-1').digest('hex');
const pem = (key: KeyObject) => key.export({ type: 'spki', format: 'pem' }).toString();

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

interface Report {
  readonly body: Buffer;
  readonly headers: Record<string, string>;
}

function report(matches: unknown, signer: KeyObject = scanner.privateKey, keyId = KEY_ID): Report {
  const body = Buffer.from(typeof matches === 'string' ? matches : JSON.stringify(matches));
  return {
    body,
    headers: {
      'github-public-key-identifier': keyId,
      'github-public-key-signature': sign('sha256', body, signer).toString('base64'),
    },
  };
}

function match(token: string, extra: Record<string, unknown> = {}) {
  return {
    token,
    type: 'tokenwarden_api_key',
    url: 'https://github.com/example/repo/blob/abc/config.js',
    source: 'content',
    ...extra,
  };
}

describe('SecretScanning', () => {
  let warden: Warden;
  let sink: MemorySink;
  let credentials: MemoryCredentialStore;
  let apiKeys: ApiKeys;
  let scanning: SecretScanning;

  beforeAll(() => {
    sink = new MemorySink();
    credentials = new MemoryCredentialStore();
    warden = createWarden({
      jwt: testJwtOptions(),
      apiKeys: { store: credentials },
      audit: { sinks: [sink], fingerprintKey: randomBytes(32) },
      logger: { warn() {}, error() {} },
    });
    apiKeys = new ApiKeys({ store: credentials, audit: warden, revoker: warden });
    scanning = new SecretScanning({ warden, publicKeys: { [KEY_ID]: pem(scanner.publicKey) } });
  });
  afterAll(() => warden.close());

  const answer = (r: Report) =>
    scanning.answer({ method: 'POST', header: (name) => r.headers[name], body: r.body });

  async function events() {
    await warden.flushAudit();
    return sink.events;
  }

  it('revokes a live API key from a signed report and answers true_positive', async () => {
    const { key, record } = await apiKeys.create({ client: 'billing', scopes: ['orders:read'] });
    expect((await warden.check(bearer(key))).outcome).toBe('allow');
    const reported = report([match(key, { url: 'https://example.test/a\nb"c' })]);
    const got = await answer(reported);
    expect(got.status).toBe(200);
    expect(JSON.parse(got.body as string)).toEqual([
      { token_hash: sha256(key), token_type: 'tokenwarden_api_key', label: 'true_positive' },
    ]);
    expect(got.body).not.toContain(key);
    expect((await credentials.getApiKey(record.keyId))?.revokedAt).toBeDefined();
    expect(await warden.check(bearer(key))).toMatchObject({ status: 401, code: 'token_revoked' });
    const leaked = (await events()).filter((e) => e.type === 'credential.leaked');
    expect(leaked).toHaveLength(1);
    expect(leaked[0]).toMatchObject({
      outcome: 'success',
      reason: 'revoked',
      tokenId: record.keyId,
      client: 'billing',
      actor: 'secret-scanning',
      tokenFingerprint: expect.stringMatching(/^[A-Za-z0-9_-]{22}$/),
      detail: {
        kind: 'api_key',
        revoked: true,
        source: 'content',
        url: 'https://example.test/a\\u000ab"c',
      },
    });
    // The fingerprint is the one the access decisions of this key carry.
    const decisions = sink.events.filter(
      (e) => e.type === 'access.decision' && e.tokenId === record.keyId,
    );
    expect(decisions.length).toBeGreaterThan(0);
    expect(decisions[0]!.tokenFingerprint).toBe(leaked[0]!.tokenFingerprint);
    expect(JSON.stringify(sink.events)).not.toContain(key);
  });

  it('answers false_positive for an unknown token, with no revocation and no event', async () => {
    const before = (await events()).length;
    const revocations = await warden.metrics.render();
    const unknown = ['twk_live_' + 'A'.repeat(40), 'eyJhbGciOiJub25lIn0.e30.', 'hello'];
    const got = await answer(report(unknown.map((t) => match(t))));
    expect(got.status).toBe(200);
    expect(JSON.parse(got.body as string)).toEqual(
      unknown.map((t) => ({
        token_hash: sha256(t),
        token_type: 'tokenwarden_api_key',
        label: 'false_positive',
      })),
    );
    expect((await events()).length).toBe(before);
    const after = await warden.metrics.render();
    const line = (text: string) =>
      text.split('\n').filter((l) => l.startsWith('tokenwarden_revocations_total'));
    expect(line(after)).toEqual(line(revocations));
  });

  it('revokes a live JWT of its own keys by jti, and recognises an expired one without revoking', async () => {
    const live = mintToken({ claims: { jti: 'leaked-jwt-1' } });
    const expired = mintToken({
      claims: { jti: 'leaked-jwt-2' },
      now: Date.now() - 3_600_000,
      lifetimeSeconds: 60,
    });
    const foreign = mintToken({ claims: { iss: 'https://elsewhere.test/' } });
    const got = await answer(report([match(live), match(expired), match(foreign)]));
    expect(JSON.parse(got.body as string).map((v: { label: string }) => v.label)).toEqual([
      'true_positive',
      'true_positive',
      'false_positive',
    ]);
    expect(await warden.check(bearer(live))).toMatchObject({ code: 'token_revoked' });
    const leaked = (await events()).filter(
      (e) => e.type === 'credential.leaked' && e.detail?.kind === 'jwt',
    );
    expect(leaked.map((e) => [e.tokenId, e.reason, e.detail?.revoked]).sort()).toEqual([
      ['leaked-jwt-1', 'revoked', true],
      ['leaked-jwt-2', 'not_live', false],
    ]);
  });

  it('revokes the family of a reported refresh token, with the access tokens issued from it', async () => {
    const refresh = new RefreshTokens({ store: credentials, revoker: warden, audit: warden });
    const access = mintToken({ claims: { jti: 'family-access-1' } });
    const issued = await refresh.issue(
      { subject: 'user-9', client: 'web-app', scopes: ['customers:read'] },
      { tokenId: 'family-access-1', expiresAt: Date.now() + 300_000 },
    );
    expect((await warden.check(bearer(access))).outcome).toBe('allow');
    const got = await answer(report([match(issued.refreshToken)]));
    expect(JSON.parse(got.body as string)[0]).toMatchObject({ label: 'true_positive' });
    expect(
      (await credentials.findRefreshFamily(sha256(issued.refreshToken)))?.revokedAt,
    ).toBeDefined();
    expect(await warden.check(bearer(access))).toMatchObject({ code: 'token_revoked' });
    const leaked = (await events()).filter(
      (e) => e.type === 'credential.leaked' && e.tokenId === issued.familyId,
    );
    expect(leaked).toMatchObject([
      { subject: 'user-9', detail: { kind: 'refresh_token', revoked: true } },
    ]);
  });

  it('handles a token reported twice once: one revocation, one event, a verdict per entry', async () => {
    const { key, record } = await apiKeys.create({ client: 'billing', scopes: ['orders:read'] });
    const got = await answer(report([match(key), match(key, { type: 'other_type' })]));
    expect(JSON.parse(got.body as string)).toEqual([
      { token_hash: sha256(key), token_type: 'tokenwarden_api_key', label: 'true_positive' },
      { token_hash: sha256(key), token_type: 'other_type', label: 'true_positive' },
    ]);
    const leaked = (await events()).filter(
      (e) => e.type === 'credential.leaked' && e.tokenId === record.keyId,
    );
    expect(leaked).toHaveLength(1);
  });

  it('answers 503 when the store fails, and takes the same report again once it is back', async () => {
    const { key, record } = await apiKeys.create({ client: 'billing', scopes: ['orders:read'] });
    let down = true;
    const flaky = new Proxy(credentials, {
      get(target, name, receiver) {
        if (name === 'findApiKey' && down) {
          return () => Promise.reject(new Error('store down'));
        }
        const value: unknown = Reflect.get(target, name, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const logged: unknown[] = [];
    const quiet = createWarden({
      jwt: testJwtOptions(),
      apiKeys: { store: credentials },
      audit: false,
      logger: { warn() {}, error: (...args: unknown[]) => void logged.push(args) },
    });
    try {
      const scanning = new SecretScanning({
        warden: quiet,
        credentials: flaky,
        publicKeys: { [KEY_ID]: pem(scanner.publicKey) },
      });
      const reported = report([match(key)]);
      const ask = () =>
        scanning.answer({
          method: 'POST',
          header: (n) => reported.headers[n],
          body: reported.body,
        });
      const failed = await ask();
      expect(failed.status).toBe(503);
      expect(failed.body).not.toContain(key);
      expect(JSON.stringify(logged)).not.toContain(key);
      down = false;
      expect((await ask()).status).toBe(200);
      expect((await credentials.getApiKey(record.keyId))?.revokedAt).toBeDefined();
    } finally {
      await quiet.close();
    }
  });

  it('refuses a report signed by another key, with an unknown key id, or unsigned: 401', async () => {
    const { key, record } = await apiKeys.create({ client: 'billing', scopes: ['orders:read'] });
    const forged = report([match(key)], stranger.privateKey);
    expect(await answer(forged)).toMatchObject({ status: 401 });
    const otherId = report([match(key)], scanner.privateKey, 'not-a-configured-key');
    expect(await answer(otherId)).toMatchObject({ status: 401 });
    const unsigned = { body: report([match(key)]).body, headers: {} };
    expect(await answer(unsigned)).toMatchObject({ status: 401 });
    // A signature over other bytes (the same report, spaced differently) does not verify.
    const good = report([match(key)]);
    const respaced = { ...good, body: Buffer.from(JSON.stringify([match(key)], null, 1)) };
    const refused = await answer(respaced);
    expect(refused.status).toBe(401);
    expect(JSON.parse(refused.body as string)).toMatchObject({ error: 'signature_invalid' });
    expect(refused.body).not.toContain(key);
    expect((await credentials.getApiKey(record.keyId))?.revokedAt).toBeUndefined();
  });

  it('refuses a replayed report with 401 report_replayed', async () => {
    const { key } = await apiKeys.create({ client: 'billing', scopes: ['orders:read'] });
    const first = report([match(key)]);
    expect((await answer(first)).status).toBe(200);
    const again = await answer(first);
    expect(again.status).toBe(401);
    expect(JSON.parse(again.body as string)).toMatchObject({ error: 'report_replayed' });
    // Signed anew (another ECDSA signature over the same bytes): still the same report.
    const resigned = await answer(report([match(key)]));
    expect(resigned.status).toBe(401);
  });

  it('refuses a signed body that is not a list of matches with 400', async () => {
    for (const body of [
      'not json',
      '{"token":"a","type":"b"}',
      '[]',
      '[{"type":"b"}]',
      '[{"token":"","type":"b"}]',
      '[{"token":"a","type":7}]',
      '[{"token":"a","type":"b","url":{}}]',
      '[null]',
    ]) {
      const got = await answer(report(body));
      expect([body, got.status]).toEqual([body, 400]);
      expect(JSON.parse(got.body as string)).toMatchObject({ error: 'report_malformed' });
    }
  });

  it('refuses a report over the size cap with 413 before verifying or parsing it', async () => {
    const small = new SecretScanning({
      warden,
      publicKeys: { [KEY_ID]: pem(scanner.publicKey) },
      maxBodyBytes: 100,
    });
    const big = report([match('x'.repeat(200))]);
    const got = await small.answer({
      method: 'POST',
      header: (n) => big.headers[n],
      body: big.body,
    });
    expect(got.status).toBe(413);
  });

  it('checks its configuration at start-up', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey;
    const good = { [KEY_ID]: pem(scanner.publicKey) };
    expect(() => new SecretScanning({ warden, publicKeys: { k: pem(rsa) } })).toThrow(ConfigError);
    expect(() => new SecretScanning({ warden, publicKeys: { k: pem(p384) } })).toThrow(/P-256/);
    expect(() => new SecretScanning({ warden, publicKeys: { k: 'not a pem' } })).toThrow(
      /not a PEM public key/,
    );
    expect(() => new SecretScanning({ warden, publicKeys: {} })).toThrow(/empty/);
    expect(() => new SecretScanning({ warden: {} as unknown as Warden, publicKeys: good })).toThrow(
      /needs \{ warden \}/,
    );
    expect(() => new SecretScanning({ warden, publicKeys: good, maxBodyBytes: 0 })).toThrow(
      /maxBodyBytes/,
    );
  });
});

describe('answerSecretScanning (over HTTP)', () => {
  let warden: Warden;
  let scanning: SecretScanning;

  beforeAll(() => {
    warden = createWarden({
      jwt: testJwtOptions(),
      audit: false,
      logger: { warn() {}, error() {} },
    });
    scanning = new SecretScanning({
      warden,
      publicKeys: { [KEY_ID]: pem(scanner.publicKey) },
      maxBodyBytes: 1024,
    });
  });
  afterAll(() => warden.close());

  function nodeRequest(r: Report, headers: Record<string, string> = {}, method = 'POST') {
    const stream = Readable.from([r.body]) as Readable & Record<string, unknown>;
    stream.method = method;
    stream.headers = { 'content-type': 'application/json', ...r.headers, ...headers };
    return stream as unknown as Parameters<typeof answerSecretScanning>[1];
  }
  const status = (a: HandlerAnswer) => a.status;

  it('reads the raw body from the stream and answers the verdicts', async () => {
    const got = await answerSecretScanning(scanning, nodeRequest(report([match('unknown-1')])));
    expect(got.status).toBe(200);
    expect(got.headers['content-type']).toBe('application/json');
  });

  it('refuses another method (405), another content type (415), a large body (413)', async () => {
    const r = report([match('unknown-2')]);
    expect(status(await answerSecretScanning(scanning, nodeRequest(r, {}, 'GET')))).toBe(405);
    const form = nodeRequest(r, { 'content-type': 'application/x-www-form-urlencoded' });
    expect(status(await answerSecretScanning(scanning, form))).toBe(415);
    const declared = nodeRequest(r, { 'content-length': '5000' });
    expect(status(await answerSecretScanning(scanning, declared))).toBe(413);
    const chunked = nodeRequest(report([match('y'.repeat(2000))]));
    expect(status(await answerSecretScanning(scanning, chunked))).toBe(413);
  });

  it("takes a body parser's raw body, and answers 500 when the raw body is gone", async () => {
    const r = report([match('unknown-3')]);
    const consumed = {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...r.headers },
      readableEnded: true,
    };
    expect(status(await answerSecretScanning(scanning, consumed, { rawBody: r.body }))).toBe(200);
    const logged: string[] = [];
    const lost = await answerSecretScanning(
      scanning,
      consumed,
      { body: JSON.parse(r.body.toString()) },
      (m) => void logged.push(m),
    );
    expect(lost.status).toBe(500);
    expect(logged[0]).toMatch(/raw body/);
  });
});
