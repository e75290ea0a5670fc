import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import request from 'supertest';
import { MemorySink } from '@tokenwarden/core';
import { loadPolicyFile } from '@tokenwarden/core/policy';
import { demoPolicyPath, listen, type Listening } from '@tokenwarden/example-shared';
import { checkPolicyDrift } from '@tokenwarden/koa';
// The story every example tells, and what each app must answer to it.
import { expectStory, tokensOf } from '../../shared/test/expect-story';
import { createApp } from '../src/app';

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

describe('koa-api example: the demo story', () => {
  const audit = new MemorySink();
  const { app, tw, issue, tokenClient } = createApp({ sinks: [audit] });
  const http = () => request(app.callback());
  let server: Listening;
  beforeAll(async () => {
    server = await listen(app);
  });
  afterAll(async () => {
    await server.close();
    await tw.warden.close();
  });

  it('issue → read → write refused → revoke → refused → consent read → withdraw → refused', async () => {
    const steps = await expectStory({
      baseUrl: server.baseUrl,
      warden: tw.warden,
      issue,
      tokenClient,
    });
    expect(steps[0]).toMatchObject({ path: '/oauth/token', status: 200 });

    await tw.warden.flushAudit();
    const decisions = audit.events.filter((e) => e.type === 'access.decision');
    expect(decisions.map((e) => [e.outcome, e.reason, e.route, e.status])).toEqual([
      ['allow', 'lawful_basis', '/customers/:id', 200],
      ['allow', 'lawful_basis', '/customers/:id/orders', 200],
      ['deny', 'insufficient_scope', '/customers/:id', 403],
      // Refused before routing, yet named: the policy's route template is the audited route.
      ['deny', 'token_revoked', '/customers/:id', 401],
      ['allow', 'consent', '/customers/:id/marketing-profile', 200],
      ['deny', 'consent_withdrawn', '/customers/:id/marketing-profile', 403],
      ['deny', 'consent_withdrawn', '/customers/:id/marketing-profile', 403],
    ]);
    expect(audit.events.map((e) => e.type)).toEqual(
      expect.arrayContaining([
        'token.issued',
        'consent.granted',
        'token.revoked',
        'consent.withdrawn',
      ]),
    );
    const trail = JSON.stringify(audit.events);
    for (const token of tokensOf(steps)) expect(trail).not.toContain(token);
  });

  it('agrees with its policy: every route declared, no step weakening a rule', () => {
    expect(checkPolicyDrift(app, loadPolicyFile(demoPolicyPath()), { drift: 'error' })).toEqual([]);
  });

  it('serves metrics without a token and refuses the API without one', async () => {
    const metrics = await http().get('/metrics');
    expect(metrics.status).toBe(200);
    expect(metrics.text).toContain('tokenwarden_decisions_total');
    const refused = await http().get('/customers/c-1001');
    expect(refused.status).toBe(401);
    expect(refused.headers['www-authenticate']).toBe('Bearer realm="api"');
  });

  it('answers an unknown customer with 404 and a bad token request with 400', async () => {
    const token = issue('agent-1', ['customers:read']);
    expect((await http().get('/customers/c-9999').set(bearer(token))).status).toBe(404);
    expect((await http().post('/demo/token').send({ subject: 1 })).status).toBe(400);
  });
});
