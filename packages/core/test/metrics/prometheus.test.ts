import { afterEach, describe, expect, it } from '@jest/globals';
import { Gauge, Registry, register as globalRegistry } from 'prom-client';
import { createWarden, METRICS, type Warden, type WardenOptions } from '@tokenwarden/core';
import { mintToken, testJwtOptions } from '@tokenwarden/testing';
import { createPrometheusMetrics } from '../../src/metrics/prometheus';
import { bearer, memoryLogger, sample, view } from '../support';

const wardens: Warden[] = [];
function make(options: Partial<WardenOptions> = {}): Warden {
  const warden = createWarden({
    jwt: testJwtOptions(),
    purposes: ['marketing'],
    logger: memoryLogger(),
    ...options,
  });
  wardens.push(warden);
  return warden;
}
afterEach(async () => {
  await Promise.all(wardens.splice(0).map((w) => w.close()));
});

const ALL_NAMES = Object.values(METRICS).map((m) => `tokenwarden_${m.name}`);

describe('Prometheus metrics', () => {
  it('registers every tokenwarden_* metric in a registry passed in', async () => {
    const registry = new Registry();
    make({ metrics: { registry } });
    const metrics = await registry.getMetricsAsJSON();
    expect(metrics.map((m) => m.name).sort()).toEqual([...ALL_NAMES].sort());
    for (const { name, type } of metrics) {
      // Prometheus conventions: counters end in _total, histograms carry their base unit.
      expect(name).toMatch(/^tokenwarden_[a-z_]+$/);
      if (String(type) === 'counter') expect(name).toMatch(/_total$/);
      if (String(type) === 'histogram') expect(name).toMatch(/_seconds$/);
      if (String(type) === 'gauge') expect(name).not.toMatch(/_total$/);
    }
  });

  it('counts decisions by outcome and reason in that registry', async () => {
    const registry = new Registry();
    const warden = make({ metrics: { registry } });
    await warden.check(bearer(mintToken()));
    await warden.check(view());
    await warden.check(view());
    const text = await registry.metrics();
    expect(sample(text, 'tokenwarden_decisions_total{outcome="allow",reason="authorized"}')).toBe(
      1,
    );
    expect(sample(text, 'tokenwarden_decisions_total{outcome="deny",reason="token_missing"}')).toBe(
      2,
    );
    expect(sample(text, 'tokenwarden_decision_duration_seconds_count{outcome="deny"}')).toBe(2);
    expect(sample(text, 'tokenwarden_token_age_seconds_count')).toBe(1);
    expect(await warden.metrics.render()).toBe(text);
    expect(warden.metrics.contentType).toBe(registry.contentType);
  });

  it('lets two wardens share one registry without throwing, adding to the same series', async () => {
    const registry = new Registry();
    const a = make({ metrics: { registry } });
    const b = make({ metrics: { registry } });
    await a.check(view());
    await b.check(view());
    const text = await registry.metrics();
    expect(sample(text, 'tokenwarden_decisions_total{outcome="deny",reason="token_missing"}')).toBe(
      2,
    );
  });

  it('gives each warden its own registry by default and never touches the global one', async () => {
    const a = make();
    const b = make();
    await a.check(view());
    expect(
      sample(
        await b.metrics.render(),
        'tokenwarden_decisions_total{outcome="deny",reason="token_missing"}',
      ),
    ).toBeUndefined();
    expect(globalRegistry.getSingleMetric('tokenwarden_decisions_total')).toBeUndefined();
  });

  it('honours a custom prefix', async () => {
    const registry = new Registry();
    make({ metrics: { registry, prefix: 'tw_' } });
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name);
    expect(names).toContain('tw_decisions_total');
    expect(names.some((n) => n.startsWith('tokenwarden_'))).toBe(false);
  });

  it('renders nothing with metrics: false', async () => {
    const warden = make({ metrics: false });
    await warden.check(bearer(mintToken()));
    await warden.check(view());
    expect(await warden.metrics.render()).toBe('');
  });

  it('never uses a token id, subject, client, data subject, token or path as a label', async () => {
    const registry = new Registry();
    const warden = make({ metrics: { registry } });
    const secrets = {
      sub: 'subject-ab12cd34',
      jti: 'jti-ef56ab78',
      client_id: 'client-9c0d1e2f',
    };
    const token = mintToken({ claims: secrets });
    const route = { consent: { purpose: 'marketing', subject: { param: 'id' } } } as const;
    const path = '/customers/person-31337';
    await warden.check(bearer(token, { path, params: { id: 'person-31337' } }), route);
    await warden.check(bearer(token, { path }), { scopes: ['orders:write'] });
    await warden.check(bearer(token, { path }));
    await warden.revokeToken(secrets.jti);
    await warden.check(bearer(token, { path }));
    await warden.check(bearer(`${token}x`, { path }));
    await warden.check(bearer(mintToken({ claims: { ...secrets, iss: 'https://evil.test/' } })));
    const text = await registry.metrics();
    expect(sample(text, 'tokenwarden_decisions_total{outcome="deny",reason="token_revoked"}')).toBe(
      1,
    );
    expect(
      sample(
        text,
        'tokenwarden_consent_checks_total{purpose="marketing",outcome="fail",reason="consent_missing"}',
      ),
    ).toBe(1);
    for (const value of [...Object.values(secrets), 'person-31337', token, 'evil.test']) {
      expect(text).not.toContain(value);
    }
  });
});

describe('createPrometheusMetrics', () => {
  it('records store errors, revocations and audit results on bounded labels', async () => {
    const registry = new Registry();
    const metrics = createPrometheusMetrics({ registry });
    metrics.storeCall('lookup', 0.002, true);
    metrics.storeCall('lookup', 0.001, false);
    metrics.revocation('subject');
    metrics.auditEvents('failed', 3);
    metrics.auditEvents('written', 2);
    const text = await metrics.render();
    expect(sample(text, 'tokenwarden_store_errors_total{operation="lookup"}')).toBe(1);
    expect(
      sample(text, 'tokenwarden_store_operation_duration_seconds_count{operation="lookup"}'),
    ).toBe(2);
    expect(sample(text, 'tokenwarden_revocations_total{kind="subject"}')).toBe(1);
    expect(sample(text, 'tokenwarden_audit_events_total{result="failed"}')).toBe(3);
    expect(sample(text, 'tokenwarden_audit_events_total{result="written"}')).toBe(2);
  });

  it('reports a lost store state as a gauge (1 while lost) and counts each loss', async () => {
    const metrics = createPrometheusMetrics({ registry: new Registry() });
    const read = async () => {
      const text = await metrics.render();
      return [
        sample(text, 'tokenwarden_store_state_lost'),
        sample(text, 'tokenwarden_store_state_losses_total'),
      ];
    };
    expect(await read()).toEqual([0, 0]);
    metrics.storeStateLost(true);
    expect(await read()).toEqual([1, 1]);
    metrics.storeStateLost(false);
    expect(await read()).toEqual([0, 1]);
    metrics.storeStateLost(true);
    expect(await read()).toEqual([1, 2]);
  });

  it('reads the audit queue depth when scraped, summed over the wardens of a registry', async () => {
    const registry = new Registry();
    const a = createPrometheusMetrics({ registry });
    const b = createPrometheusMetrics({ registry });
    a.auditQueueDepth(7);
    b.auditQueueDepth(3);
    expect(sample(await registry.metrics(), 'tokenwarden_audit_queue_depth')).toBe(10);
    a.auditQueueDepth(0);
    expect(sample(await a.render(), 'tokenwarden_audit_queue_depth')).toBe(3);
  });

  it('keeps reporting the depth through a queue-depth gauge registered by something else', async () => {
    const registry = new Registry();
    new Gauge({ name: 'tokenwarden_audit_queue_depth', help: 'other', registers: [registry] });
    const metrics = createPrometheusMetrics({ registry });
    metrics.auditQueueDepth(4);
    expect(sample(await registry.metrics(), 'tokenwarden_audit_queue_depth')).toBe(4);
  });

  it('counts decisions, consent checks and cache look-ups per distinct label values', async () => {
    const registry = new Registry();
    const metrics = createPrometheusMetrics({ registry });
    metrics.decision('allow', 'authorized', 0.001);
    metrics.decision('allow', 'authorized', 0.001);
    metrics.decision('deny', 'authorized', 0.001);
    metrics.consentCheck('marketing', 'pass', 'granted');
    metrics.consentCheck('marketing', 'fail', 'consent_withdrawn');
    metrics.consentCheck('analytics', 'pass', 'granted');
    metrics.cacheLookup('state', 'hit');
    metrics.cacheLookup('state', 'hit');
    metrics.cacheLookup('token', 'hit');
    const text = await registry.metrics();
    const at = (series: string) => sample(text, series);
    expect(at('tokenwarden_decisions_total{outcome="allow",reason="authorized"}')).toBe(2);
    expect(at('tokenwarden_decisions_total{outcome="deny",reason="authorized"}')).toBe(1);
    expect(
      at('tokenwarden_consent_checks_total{purpose="marketing",outcome="pass",reason="granted"}'),
    ).toBe(1);
    expect(
      at(
        'tokenwarden_consent_checks_total{purpose="marketing",outcome="fail",reason="consent_withdrawn"}',
      ),
    ).toBe(1);
    expect(
      at('tokenwarden_consent_checks_total{purpose="analytics",outcome="pass",reason="granted"}'),
    ).toBe(1);
    expect(at('tokenwarden_cache_lookups_total{cache="state",result="hit"}')).toBe(2);
    expect(at('tokenwarden_cache_lookups_total{cache="token",result="hit"}')).toBe(1);
  });

  it('looks metrics up before creating them, so a second instance shares them', async () => {
    const registry = new Registry();
    const first = createPrometheusMetrics({ registry });
    const second = createPrometheusMetrics({ registry });
    first.revocation('all');
    second.revocation('all');
    expect(sample(await registry.metrics(), 'tokenwarden_revocations_total{kind="all"}')).toBe(2);
  });
});

describe('lifecycle metrics', () => {
  it('counts issuances by client, rotations, refresh reuse; sets key age and expiring keys', async () => {
    const registry = new Registry();
    const metrics = createPrometheusMetrics({ registry });
    metrics.tokenIssued('billing');
    metrics.tokenIssued('billing');
    metrics.tokenIssued('other');
    metrics.signingKeyRotation();
    metrics.signingKeyAge(120);
    metrics.signingKeyAge(30);
    metrics.apiKeysExpiringSoon(4);
    metrics.refreshReuseDetected();
    metrics.tokenLifetime(600);
    const text = await metrics.render();
    expect(sample(text, 'tokenwarden_tokens_issued_total{client="billing"}')).toBe(2);
    expect(sample(text, 'tokenwarden_tokens_issued_total{client="other"}')).toBe(1);
    expect(sample(text, 'tokenwarden_signing_key_rotations_total')).toBe(1);
    expect(sample(text, 'tokenwarden_signing_key_age_seconds')).toBe(30);
    expect(sample(text, 'tokenwarden_api_keys_expiring_soon')).toBe(4);
    expect(sample(text, 'tokenwarden_refresh_reuse_detected_total')).toBe(1);
    expect(sample(text, 'tokenwarden_token_lifetime_seconds_count')).toBe(1);
    expect(sample(text, 'tokenwarden_token_lifetime_seconds_bucket{le="600"}')).toBe(1);
    expect(sample(text, 'tokenwarden_token_lifetime_seconds_bucket{le="300"}')).toBe(0);
  });

  it('keeps the client label bounded when a caller passes unbounded values', async () => {
    const metrics = createPrometheusMetrics({ registry: new Registry() });
    for (let i = 0; i < 500; i++) metrics.tokenIssued(`client-${i}`);
    const text = await metrics.render();
    const series = text.split('\n').filter((l) => l.startsWith('tokenwarden_tokens_issued_total{'));
    expect(series.length).toBeLessThanOrEqual(201);
    expect(sample(text, 'tokenwarden_tokens_issued_total{client="other"}')).toBe(300);
  });

  it('has no-op versions that record nothing', async () => {
    const { noopMetrics } = await import('../../src/metrics/prometheus');
    noopMetrics.tokenIssued('billing');
    noopMetrics.signingKeyRotation();
    noopMetrics.signingKeyAge(1);
    noopMetrics.apiKeysExpiringSoon(1);
    noopMetrics.refreshReuseDetected();
    noopMetrics.tokenLifetime(1);
    expect(await noopMetrics.render()).toBe('');
  });
});
