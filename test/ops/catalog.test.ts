import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { MemorySink } from '@tokenwarden/core';
import { loadPolicyFile } from '@tokenwarden/core/policy';
import { listen, PURPOSES, runStory, type Listening } from '../../examples/shared/src';
import { createPrometheusMetrics } from '../../packages/core/src/metrics/prometheus';
import { createApp } from '../../examples/express-api/src/app';
import {
  DEFINED,
  ROOT,
  driveTraffic,
  parseExposition,
  readCatalog,
  send,
  unionMembers,
  type Sample,
} from './support';

const catalog = readCatalog();

/** The clients the examples' policy names: the `client` label takes these, else `other`. */
const POLICY = join(ROOT, 'examples', 'shared', 'tokenwarden.policy.yaml');
const CLIENTS = new Set([
  'other',
  ...(existsSync(POLICY) ? Object.keys(loadPolicyFile(POLICY).clients) : []),
]);

describe('docs/metrics.md, the metrics catalog', () => {
  it('lists every metric Tokenwarden defines, and nothing else', () => {
    expect([...catalog.entries.keys()].sort()).toEqual([...DEFINED.keys()].sort());
  });

  it.each([...DEFINED])('documents the labels of %s', (name, labels) => {
    expect(catalog.entries.get(name)?.labels).toEqual(labels);
  });

  it('gives each metric the type prom-client registers it with', async () => {
    const { registry } = createPrometheusMetrics();
    const registered = await registry.getMetricsAsJSON();
    const types = Object.fromEntries(registered.map((m) => [m.name, String(m.type)]));
    const documented = Object.fromEntries(
      [...catalog.entries.values()].map((e) => [e.name, e.type]),
    );
    expect(documented).toEqual(types);
  });

  it('puts the unit in the name: seconds exactly where the name ends in _seconds', () => {
    for (const entry of catalog.entries.values()) {
      expect([entry.name, entry.unit === 'seconds']).toEqual([
        entry.name,
        entry.name.endsWith('_seconds'),
      ]);
      if (entry.type === 'counter') expect(entry.name).toMatch(/_total$/);
    }
  });

  it('lists every denial code and every allow reason as a decision reason', () => {
    const codes = unionMembers('packages/core/src/errors.ts', 'ErrorCode').filter(
      // Configuration mistakes stop the start-up, and the codes listed after `config_invalid`
      // belong to operations outside a request: none of them is ever a request's decision.
      (_code, i, all) => i < all.indexOf('config_invalid'),
    );
    expect([...catalog.denyReasons].sort()).toEqual(codes.sort());
    expect([...catalog.allowReasons].sort()).toEqual(
      unionMembers('packages/core/src/decision.ts', 'AllowReason').sort(),
    );
  });

  it.each([
    ['tokenwarden_audit_events_total', 'result', 'AuditResult'],
    ['tokenwarden_cache_lookups_total', 'cache', 'CacheName'],
    ['tokenwarden_cache_lookups_total', 'result', 'CacheResult'],
  ])('lists the values of %s{%s} that the type %s allows', (name, label, type) => {
    const documented = catalog.entries.get(name)?.values.get(label);
    expect([...(documented ?? [])].sort()).toEqual(
      unionMembers('packages/core/src/metrics/types.ts', type).sort(),
    );
  });

  it('lists the store operations the pipeline times', () => {
    // Every store call on the request path is timed by the runner under one of these operations.
    const operations = unionMembers('packages/core/src/pipeline/context.ts', 'StoreOperation');
    for (const name of [
      'tokenwarden_store_operation_duration_seconds',
      'tokenwarden_store_errors_total',
    ]) {
      const documented = catalog.entries.get(name)?.values.get('operation');
      expect([name, [...(documented ?? [])].sort()]).toEqual([name, [...operations].sort()]);
    }
  });

  it('lists the consent verdicts as the reasons of consent checks', () => {
    const verdicts = unionMembers('packages/core/src/consent/index.ts', 'ConsentVerdict');
    const reasons = catalog.entries.get('tokenwarden_consent_checks_total')?.values.get('reason');
    expect([...(reasons ?? [])].sort()).toEqual(
      verdicts.map((v) => (v === 'pass' ? 'granted' : v)).sort(),
    );
  });
});

describe('the metrics an example app serves stay inside the documented label values', () => {
  const { app, tw, issue } = createApp({ sinks: [new MemorySink()] });
  let server: Listening;
  let samples: Sample[];

  beforeAll(async () => {
    server = await listen(app);
    // The demo story (allow, scope refusal, revocation, consent, withdrawal) plus plain refusals.
    const story = await runStory({ baseUrl: server.baseUrl, warden: tw.warden, issue });
    expect(story.ok).toBe(true);
    await driveTraffic(server.baseUrl, issue('agent-7', ['customers:read']), {
      allowed: 2,
      missing: 2,
      forbidden: 1,
    });
    await send(`${server.baseUrl}/customers/c-1001`, { token: 'not-a-jwt' });
    await tw.warden.flushAudit();
    samples = parseExposition((await send(`${server.baseUrl}/metrics`)).body);
  });
  afterAll(async () => {
    await server.close();
    await tw.warden.close();
  });

  it('serves only documented metrics', () => {
    const families = new Set(samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')));
    for (const family of families)
      expect([family, catalog.entries.has(family)]).toEqual([family, true]);
    // The story touched decisions, consent, revocations, store and audit at least.
    for (const touched of [
      'tokenwarden_decisions_total',
      'tokenwarden_consent_checks_total',
      'tokenwarden_revocations_total',
      'tokenwarden_store_operation_duration_seconds',
      'tokenwarden_audit_events_total',
    ]) {
      expect(samples.some((s) => s.name.startsWith(touched) && s.value > 0)).toBe(true);
    }
  });

  it('labels every series with documented values only', () => {
    const purposes = new Set(Object.keys(PURPOSES));
    const reasons = new Set([...catalog.allowReasons, ...catalog.denyReasons]);
    const seen = new Set<string>();
    for (const sample of samples) {
      const family = sample.name.replace(/_(bucket|sum|count)$/, '');
      const entry = catalog.entries.get(family)!;
      for (const [label, value] of Object.entries(sample.labels)) {
        if (label === 'le') continue;
        expect([family, label, entry.labels.includes(label)]).toEqual([family, label, true]);
        const open: Record<string, ReadonlySet<string>> = {
          reason: reasons,
          purpose: purposes,
          client: CLIENTS,
        };
        const allowed = entry.values.get(label) ?? open[label];
        expect([family, label, value, allowed?.has(value)]).toEqual([family, label, value, true]);
        seen.add(`${family}{${label}="${value}"}`);
      }
    }
    // The traffic reached the values that matter to the alerts.
    expect([...seen]).toEqual(
      expect.arrayContaining([
        'tokenwarden_decisions_total{reason="token_revoked"}',
        'tokenwarden_decisions_total{reason="consent_withdrawn"}',
        'tokenwarden_decisions_total{reason="token_missing"}',
        'tokenwarden_decisions_total{reason="token_malformed"}',
        'tokenwarden_decisions_total{reason="insufficient_scope"}',
        'tokenwarden_consent_checks_total{purpose="marketing"}',
      ]),
    );
  });
});
