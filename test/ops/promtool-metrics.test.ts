import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runStory } from '../../examples/shared/src';
import { EXAMPLE_APPS, type RunningApp } from './apps';
import {
  driveTraffic,
  parseExposition,
  requireBinary,
  runWithInput,
  send,
  valueOf,
} from './support';

describe.each(Object.keys(EXAMPLE_APPS))('the metrics of %s', (name) => {
  let app: RunningApp;
  let exposition: string;

  beforeAll(async () => {
    app = await EXAMPLE_APPS[name]!();
    // The demo story touches every stage (scope, revocation, consent); then plain refusals.
    const story = await runStory({ baseUrl: app.baseUrl, warden: app.warden, issue: app.issue });
    expect(story.steps.filter((s) => s.status !== s.expected)).toEqual([]);
    await driveTraffic(app.baseUrl, app.issue('agent-7', ['customers:read']), {
      allowed: 3,
      missing: 2,
      forbidden: 1,
    });
    await app.warden.flushAudit();
    const answer = await send(`${app.baseUrl}/metrics`);
    expect(answer.status).toBe(200);
    exposition = answer.body;
  });
  afterAll(async () => {
    await app?.close();
  });

  it('pass promtool check metrics', async () => {
    const result = await runWithInput(requireBinary('promtool'), ['check', 'metrics'], exposition);
    // promtool prints one line per problem (naming, units, help) and exits non-zero.
    expect([result.code, result.output]).toEqual([0, '']);
  });

  it('count what was sent', () => {
    const samples = parseExposition(exposition);
    const decisions = (reason: string) =>
      valueOf(samples, 'tokenwarden_decisions_total', { reason });
    // The story's refusals (1 scope, 1 revoked, 2 consent) plus the traffic's.
    expect({
      insufficient_scope: decisions('insufficient_scope'),
      token_revoked: decisions('token_revoked'),
      consent_withdrawn: decisions('consent_withdrawn'),
      token_missing: decisions('token_missing'),
    }).toEqual({ insufficient_scope: 2, token_revoked: 1, consent_withdrawn: 2, token_missing: 2 });
    expect(valueOf(samples, 'tokenwarden_revocations_total', { kind: 'token' })).toBe(1);
  });
});
