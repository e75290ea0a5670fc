import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { describe, expect, it } from '@jest/globals';
import { staticSigningKey, TokenEndpoint, TokenIssuer } from '@tokenwarden/core';
import { answerTokenRequest, newKeyPair, type TokenHttpRequest } from '@tokenwarden/core/internal';

const secret = randomBytes(32).toString('base64url');
const basic = `Basic ${Buffer.from(`crm:${secret}`).toString('base64')}`;

function endpoint(): TokenEndpoint {
  const { privateKey } = newKeyPair('ec', { namedCurve: 'prime256v1' });
  const issuer = new TokenIssuer({
    issuer: 'https://issuer.test/',
    audience: 'api',
    keys: staticSigningKey({ kid: 'k1', alg: 'ES256', key: privateKey }),
    clients: { crm: { scopes: ['customers:read'] } },
  });
  return new TokenEndpoint({ issuer, clientSecrets: { crm: secret } });
}

/** A Node-like request whose body has not been read yet. */
function unread(body: string, headers: Record<string, string>): Readable & TokenHttpRequest {
  const stream = Readable.from([Buffer.from(body)]);
  return Object.assign(stream, { method: 'POST', headers: { authorization: basic, ...headers } });
}

/** A request whose body a parser has read already. */
function consumed(headers: Record<string, string>): TokenHttpRequest {
  return { method: 'POST', headers: { authorization: basic, ...headers }, readableEnded: true };
}

const FORM = { 'content-type': 'application/x-www-form-urlencoded' };
const TOO_LARGE = {
  error: 'invalid_request',
  error_description: 'the body is larger than 8192 bytes',
};

describe('answerTokenRequest', () => {
  it('reads an unread body from the stream and issues', async () => {
    const answer = await answerTokenRequest(
      endpoint(),
      unread('grant_type=client_credentials', FORM),
    );
    expect(answer.status).toBe(200);
  });

  it('refuses a Content-Length over 8 KiB before reading anything', async () => {
    const request = unread('grant_type=client_credentials', { ...FORM, 'content-length': '8193' });
    const answer = await answerTokenRequest(endpoint(), request);
    expect(answer.body).toEqual(TOO_LARGE);
    expect(request.readableEnded).toBe(false);
  });

  it('holds a parsed body to the limit even when the wire size was small (an inflated body)', async () => {
    const answer = await answerTokenRequest(
      endpoint(),
      consumed({ ...FORM, 'content-length': '300', 'content-encoding': 'gzip' }),
      { body: { grant_type: 'client_credentials', pad: 'x'.repeat(9000) } },
    );
    expect([answer.status, answer.body]).toEqual([400, TOO_LARGE]);
  });

  it('measures a parsed body by the raw body a parser kept', async () => {
    const answer = await answerTokenRequest(endpoint(), consumed(FORM), {
      body: { grant_type: 'client_credentials' },
      rawBody: Buffer.alloc(9000),
    });
    expect(answer.body).toEqual(TOO_LARGE);
  });

  it('uses a parsed body within the limit', async () => {
    const answer = await answerTokenRequest(endpoint(), consumed(FORM), {
      body: { grant_type: 'client_credentials' },
    });
    expect(answer.status).toBe(200);
  });

  it('refuses a missing content type, whatever the body', async () => {
    const answer = await answerTokenRequest(endpoint(), consumed({}), {
      body: { grant_type: 'client_credentials' },
    });
    expect([answer.status, answer.body.error]).toEqual([400, 'invalid_request']);
  });

  it('answers 400 when the body stream fails (the client went away)', async () => {
    const stream = new Readable({
      read() {
        this.destroy(new Error('aborted'));
      },
    });
    const request = Object.assign(stream, { method: 'POST', headers: { ...FORM } });
    const answer = await answerTokenRequest(endpoint(), request);
    expect(answer.body).toEqual({
      error: 'invalid_request',
      error_description: 'the body could not be read',
    });
  });

  it('leaves other methods to the endpoint (405), without reading the body', async () => {
    const answer = await answerTokenRequest(endpoint(), { method: 'GET', headers: {} });
    expect([answer.status, answer.headers.allow]).toEqual([405, 'POST']);
  });
});
