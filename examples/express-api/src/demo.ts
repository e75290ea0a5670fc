import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type { WardenStore } from '@tokenwarden/core';
import { createApp } from './app';

/** One step of the story: what was asked, what came back, what was expected. */
export interface DemoStep {
  title: string;
  status: number;
  expected: number;
  code?: string;
}

export interface DemoResult {
  ok: boolean;
  steps: DemoStep[];
}

/**
 * Walks the Tokenwarden story over real HTTP: issue → read → write refused → revoke → refused →
 * consent read → withdrawal → refused even with a fresh token; then prints audit and metrics.
 */
export async function runDemo(
  options: { store?: WardenStore; print?: (line: string) => void } = {},
): Promise<DemoResult> {
  const print = options.print ?? ((line: string) => console.log(line));
  const { app, tw, audit, issue } = createApp({ store: options.store });
  const warden = tw.warden;
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const steps: DemoStep[] = [];

  async function call(
    title: string,
    method: string,
    path: string,
    token: string | undefined,
    expected: number,
    body?: unknown,
  ) {
    const response = await fetch(base + path, {
      method,
      headers: {
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...(body ? { 'content-type': 'application/json' } : {}),
      },
      body: body ? JSON.stringify(body) : undefined,
    });
    const json = (await response.json()) as Record<string, unknown>;
    const code = typeof json.code === 'string' ? json.code : undefined;
    steps.push({ title, status: response.status, expected, ...(code ? { code } : {}) });
    const mark = response.status === expected ? 'ok ' : 'FAIL';
    print(`${mark} ${method} ${path} -> ${response.status}${code ? ` (${code})` : ''}   ${title}`);
    return json;
  }

  try {
    print('Tokenwarden demo: a customer API over personal data');
    print(`store: ${options.store ? options.store.constructor.name : 'MemoryStore (embedded)'}`);
    await warden.grantConsent({ subject: 'c-1001', purpose: 'marketing', source: 'signup-form' });
    print('setup: customer c-1001 consented to marketing (signup-form)\n');

    const minted = (await call(
      '1. the demo issuer mints a token',
      'POST',
      '/demo/token',
      undefined,
      200,
      {
        subject: 'agent-7',
        scopes: ['customers:read', 'orders:read'],
      },
    )) as { access_token: string };
    const token = minted.access_token;
    await call('2. a read with customers:read is allowed', 'GET', '/customers/c-1001', token, 200);
    await call(
      '3. a write without customers:write is refused',
      'PUT',
      '/customers/c-1001',
      token,
      403,
      {
        email: 'new@example.test',
      },
    );
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      jti: string;
      exp: number;
    };
    await warden.revokeToken(claims.jti, {
      expiresAt: claims.exp * 1000,
      actor: 'demo',
      reason: 'leaked',
    });
    print('   ops: the token is revoked (it leaked)');
    await call('4. the revoked token is refused', 'GET', '/customers/c-1001', token, 401);

    const marketer = issue('agent-9', ['marketing:read'], 'campaign-tool');
    await call(
      '5. a new token reads the marketing profile (consent given)',
      'GET',
      '/customers/c-1001/marketing-profile',
      marketer,
      200,
    );
    await warden.withdrawConsent({
      subject: 'c-1001',
      purpose: 'marketing',
      source: 'privacy-portal',
    });
    print('   the customer withdraws marketing consent');
    await call(
      '6. the old token is refused',
      'GET',
      '/customers/c-1001/marketing-profile',
      marketer,
      403,
    );
    await call(
      '7. a fresh token is refused too',
      'GET',
      '/customers/c-1001/marketing-profile',
      issue('agent-9', ['marketing:read'], 'campaign-tool'),
      403,
    );
    await call('8. the health check needs no token', 'GET', '/health', undefined, 200);

    await warden.flushAudit();
    print('\nAudit trail (JSON lines; tokens appear only as keyed fingerprints):');
    for (const event of audit.events) print(JSON.stringify(event));
    print('\nMetrics (tokenwarden_* series, histogram buckets left out):');
    const metrics = await warden.metrics.render();
    for (const line of metrics.split('\n')) {
      if (line.startsWith('tokenwarden_') && !line.includes('_bucket{')) print(line);
    }
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await warden.close();
  }
  const ok = steps.every((s) => s.status === s.expected);
  print(`\n${ok ? 'demo passed' : 'demo FAILED'}: ${steps.length} steps`);
  return { ok, steps };
}
