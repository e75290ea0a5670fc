import type { Warden } from '@tokenwarden/core';

/** Which step of the story a {@link StoryStep} is. */
export type StepName =
  | 'issue'
  | 'read'
  | 'orders'
  | 'write'
  | 'revoked'
  | 'consented'
  | 'old-token'
  | 'fresh-token'
  | 'health';

/** One step of the story: what was asked, what came back, what was expected. */
export interface StoryStep {
  readonly name: StepName;
  readonly title: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly expected: number;
  /** The `code` of the answer's JSON body, if any (problem+json denials carry one). */
  readonly code?: string;
  /** The code the story expects, on the steps that must be refused. */
  readonly expectedCode?: string;
  readonly contentType: string | null;
  /** The answer's JSON body. */
  readonly body: unknown;
  /** The bearer token sent, if any. */
  readonly token?: string;
}

export interface StoryResult {
  /** Every step answered with the status it expected. */
  readonly ok: boolean;
  readonly steps: StoryStep[];
}

export interface StoryOptions {
  /** Where the example app listens, e.g. `http://127.0.0.1:3000`. */
  readonly baseUrl: string;
  /** The app's warden: ops revoke tokens and record consent through it. */
  readonly warden: Warden;
  /** Mints a token as the demo issuer would (directly, or over the app's POST /demo/token). */
  readonly issue: (subject: string, scopes: string[], client?: string) => string | Promise<string>;
  /** Where each step's line goes. Default: nowhere. */
  readonly print?: (line: string) => void;
  /** Also read the customer's orders with the support agent's token (step 2). Default: false. */
  readonly readOrders?: boolean;
  /**
   * Credentials of the support console: step 1 gets its token from POST /oauth/token (client
   * credentials). Default: none, and step 1 uses the demo route POST /demo/token.
   */
  readonly tokenClient?: { readonly id: string; readonly secret: string };
}

interface Call {
  readonly name: StepName;
  readonly title: string;
  readonly method: 'GET' | 'POST' | 'PUT';
  readonly path: string;
  readonly token?: string;
  readonly expected: number;
  readonly expectedCode?: string;
  readonly body?: unknown;
  /** Sent form-encoded with these Basic credentials instead of as JSON with a bearer token. */
  readonly basic?: { readonly id: string; readonly secret: string };
}

const CUSTOMER = '/customers/c-1001';
const PROFILE = `${CUSTOMER}/marketing-profile`;

/**
 * Walks the Tokenwarden story over real HTTP against any of the example apps: issue → read →
 * write refused → revoke → refused → consent read → withdrawal → refused even with a fresh token.
 */
export async function runStory(options: StoryOptions): Promise<StoryResult> {
  const { baseUrl, warden, issue } = options;
  const print = options.print ?? (() => {});
  const steps: StoryStep[] = [];

  async function call(step: Call): Promise<StoryStep> {
    const { token, body: sent, basic } = step;
    const form = basic !== undefined && sent !== undefined;
    const response = await fetch(baseUrl + step.path, {
      method: step.method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(basic ? { authorization: basicAuth(basic) } : {}),
        ...(sent
          ? { 'content-type': form ? 'application/x-www-form-urlencoded' : 'application/json' }
          : {}),
      },
      body: sent
        ? form
          ? new URLSearchParams(sent as Record<string, string>).toString()
          : JSON.stringify(sent)
        : undefined,
    });
    const body: unknown = await response.json();
    const code = codeOf(body);
    const done: StoryStep = {
      name: step.name,
      title: step.title,
      method: step.method,
      path: step.path,
      status: response.status,
      expected: step.expected,
      ...(code ? { code } : {}),
      ...(step.expectedCode ? { expectedCode: step.expectedCode } : {}),
      contentType: response.headers.get('content-type'),
      body,
      ...(token ? { token } : {}),
    };
    steps.push(done);
    const mark = done.status === done.expected ? 'ok ' : 'FAIL';
    print(
      `${mark} ${step.method} ${step.path} -> ${done.status}${code ? ` (${code})` : ''}   ${step.title}`,
    );
    return done;
  }

  await warden.grantConsent({ subject: 'c-1001', purpose: 'marketing', source: 'signup-form' });
  print('setup: customer c-1001 consented to marketing (signup-form)\n');

  const client = options.tokenClient;
  const minted = await call(
    client
      ? {
          name: 'issue',
          title: '1. the support console gets a token (POST /oauth/token, client credentials)',
          method: 'POST',
          path: '/oauth/token',
          expected: 200,
          basic: client,
          body: { grant_type: 'client_credentials', scope: 'customers:read orders:read' },
        }
      : {
          name: 'issue',
          title: '1. the demo issuer mints a token',
          method: 'POST',
          path: '/demo/token',
          expected: 200,
          body: { subject: 'agent-7', scopes: ['customers:read', 'orders:read'] },
        },
  );
  const token = accessTokenOf(minted.body);
  await call({
    name: 'read',
    title: '2. a read with customers:read is allowed',
    method: 'GET',
    path: CUSTOMER,
    token,
    expected: 200,
  });
  if (options.readOrders) {
    await call({
      name: 'orders',
      title: '2. ...and the orders, with orders:read',
      method: 'GET',
      path: `${CUSTOMER}/orders`,
      token,
      expected: 200,
    });
  }
  await call({
    name: 'write',
    title: '3. a write without customers:write is refused',
    method: 'PUT',
    path: CUSTOMER,
    token,
    expected: 403,
    expectedCode: 'insufficient_scope',
    body: { email: 'new@example.test' },
  });
  const claims = claimsOf(token);
  await warden.revokeToken(claims.jti, {
    expiresAt: claims.exp * 1000,
    actor: 'demo',
    reason: 'leaked',
  });
  print('   ops: the token is revoked (it leaked)');
  await call({
    name: 'revoked',
    title: '4. the revoked token is refused',
    method: 'GET',
    path: CUSTOMER,
    token,
    expected: 401,
    expectedCode: 'token_revoked',
  });

  const marketer = await issue('agent-9', ['marketing:read'], 'campaign-tool');
  await call({
    name: 'consented',
    title: '5. a new token reads the marketing profile (consent given)',
    method: 'GET',
    path: PROFILE,
    token: marketer,
    expected: 200,
  });
  await warden.withdrawConsent({
    subject: 'c-1001',
    purpose: 'marketing',
    source: 'privacy-portal',
  });
  print('   the customer withdraws marketing consent');
  await call({
    name: 'old-token',
    title: '6. the old token is refused',
    method: 'GET',
    path: PROFILE,
    token: marketer,
    expected: 403,
    expectedCode: 'consent_withdrawn',
  });
  await call({
    name: 'fresh-token',
    title: '7. a fresh token is refused too',
    method: 'GET',
    path: PROFILE,
    token: await issue('agent-9', ['marketing:read'], 'campaign-tool'),
    expected: 403,
    expectedCode: 'consent_withdrawn',
  });
  await call({
    name: 'health',
    title: '8. the health check needs no token',
    method: 'GET',
    path: '/health',
    expected: 200,
  });

  return { ok: steps.every((s) => s.status === s.expected), steps };
}

/** The steps by name (a step the story did not take is missing). */
export function stepsByName(steps: readonly StoryStep[]): Partial<Record<StepName, StoryStep>> {
  return Object.fromEntries(steps.map((s) => [s.name, s]));
}

/** RFC 6749 §2.3.1: id and secret form-encoded, then Basic. */
function basicAuth(client: { readonly id: string; readonly secret: string }): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(client.id)}:${encode(client.secret)}`).toString('base64')}`;
}

function codeOf(body: unknown): string | undefined {
  if (typeof body !== 'object' || body === null || !('code' in body)) return undefined;
  return typeof body.code === 'string' ? body.code : undefined;
}

function accessTokenOf(body: unknown): string {
  if (typeof body === 'object' && body !== null && 'access_token' in body) {
    if (typeof body.access_token === 'string') return body.access_token;
  }
  throw new Error(`the token request answered no access_token: ${JSON.stringify(body)}`);
}

function claimsOf(token: string): { jti: string; exp: number } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
    jti: string;
    exp: number;
  };
}
