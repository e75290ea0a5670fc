import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EXAMPLE_APPS, type RunningApp } from './apps';
import { PrometheusServer } from './prometheus-server';
import { OPS, dashboardQueries, driveTraffic, readDashboard, send } from './support';

/** What each of two instances of the example gets (one more forged token goes to the first). */
const TRAFFIC = [
  { allowed: 5, missing: 3, forbidden: 2 },
  { allowed: 2, missing: 1, forbidden: 1 },
];
const total = (key: 'allowed' | 'missing' | 'forbidden') =>
  TRAFFIC.reduce((sum, t) => sum + t[key], 0);
const DECISIONS = total('allowed') + total('missing') + total('forbidden') + 1;

/** `{ label value: sample value }` of a query's result, keyed by one label. */
const byLabel = (results: { metric: Record<string, string>; value: number }[], label: string) =>
  Object.fromEntries(results.map((r) => [r.metric[label] ?? '', r.value]));

// Two instances of the example, each with its own warden and registry, scraped as two targets of
// one job: the per-process set-up of a multi-process deployment.
describe('a real Prometheus scraping two instances of the express-api example', () => {
  let apps: RunningApp[] = [];
  let prometheus: PrometheusServer;

  beforeAll(async () => {
    apps = [await EXAMPLE_APPS['express-api']!(), await EXAMPLE_APPS['express-api']!()];
    prometheus = await PrometheusServer.start({
      targets: apps.map((app) => new URL(app.baseUrl).host),
      ruleFiles: [join(OPS, 'prometheus', 'tokenwarden.rules.yml')],
    });
    // One scrape before the traffic, so the counters' rise is seen from their first value.
    await prometheus.waitFor('first scrape', async () => {
      const up = await prometheus.query('up{job="tokenwarden"} == 1');
      return up.length === apps.length;
    });
    for (const [i, app] of apps.entries()) {
      await driveTraffic(app.baseUrl, app.issue('agent-7', ['customers:read']), TRAFFIC[i]!);
    }
    // A forged token: the first instance's, with another signature.
    const token = apps[0]!.issue('agent-7', ['customers:read']);
    const forged = token.slice(0, token.lastIndexOf('.') + 1) + 'A'.repeat(43);
    expect((await send(`${apps[0]!.baseUrl}/customers/c-1001`, { token: forged })).status).toBe(
      401,
    );
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    for (const app of apps) await app.close();
  });

  it('stores the decisions by outcome and reason, summed over the instances', async () => {
    const expected = {
      lawful_basis: total('allowed'),
      token_missing: total('missing'),
      insufficient_scope: total('forbidden'),
      invalid_signature: 1,
    };
    let reasons: Record<string, number> = {};
    await prometheus.waitFor('the traffic in the scraped decisions', async () => {
      reasons = byLabel(
        await prometheus.query('sum by (reason) (tokenwarden_decisions_total{job="tokenwarden"})'),
        'reason',
      );
      return Object.entries(expected).every(([reason, n]) => reasons[reason] === n);
    });
    expect(reasons).toEqual(expected);
    const outcomes = byLabel(
      await prometheus.query('sum by (outcome) (tokenwarden_decisions_total{job="tokenwarden"})'),
      'outcome',
    );
    expect(outcomes).toEqual({ allow: total('allowed'), deny: DECISIONS - total('allowed') });
  });

  it('keeps each instance apart under its instance label', async () => {
    const allowed = byLabel(
      await prometheus.query(
        'sum by (instance) (tokenwarden_decisions_total{job="tokenwarden",reason="lawful_basis"})',
      ),
      'instance',
    );
    expect(allowed).toEqual(
      Object.fromEntries(apps.map((app, i) => [new URL(app.baseUrl).host, TRAFFIC[i]!.allowed])),
    );
  });

  it('stores the histograms and checks that go with them', async () => {
    const [count] = await prometheus.query(
      'sum(tokenwarden_decision_duration_seconds_count{job="tokenwarden"})',
    );
    expect(count?.value).toBe(DECISIONS);
    // Every decision took less than a second: the 1 s bucket holds them all.
    const [underOneSecond] = await prometheus.query(
      'sum(tokenwarden_decision_duration_seconds_bucket{job="tokenwarden",le="1"})',
    );
    expect(underOneSecond?.value).toBe(DECISIONS);
    const scopes = byLabel(
      await prometheus.query(
        'sum by (outcome) (tokenwarden_scope_checks_total{job="tokenwarden"})',
      ),
      'outcome',
    );
    expect(scopes).toEqual({ pass: total('allowed'), fail: total('forbidden') });
    // Token age is observed for every verified token (allowed and scope-refused requests).
    const [ages] = await prometheus.query(
      'sum(tokenwarden_token_age_seconds_count{job="tokenwarden"})',
    );
    expect(ages?.value).toBe(total('allowed') + total('forbidden'));
  });

  it('loads the alerting rules, evaluates them without errors, and none fires', async () => {
    let groups: Awaited<ReturnType<PrometheusServer['rules']>> = [];
    await prometheus.waitFor('rules evaluated', async () => {
      groups = await prometheus.rules();
      const rules = groups.flatMap((g) => g.rules);
      return rules.length > 0 && rules.every((r) => r.health !== 'unknown');
    });
    const rules = groups.flatMap((g) => g.rules);
    expect(rules.filter((r) => r.health !== 'ok')).toEqual([]);
    expect(rules.length).toBe(16);
    // A little normal traffic is no incident.
    expect(await prometheus.query('ALERTS{alertstate="firing"}')).toEqual([]);
  });

  it('runs every query of the Grafana dashboard, and the traffic panels show data', async () => {
    const queries = dashboardQueries(readDashboard());
    // rate() needs two samples of a series in its window: wait for the second scrape of each.
    await prometheus.waitFor('two scrapes of every series', async () => {
      const [fewest] = await prometheus.query(
        'min(count_over_time(tokenwarden_decisions_total{job="tokenwarden"}[1m]))',
      );
      return (fewest?.value ?? 0) >= 2;
    });
    const empty: string[] = [];
    for (const { title, expr } of queries) {
      // Grafana's label_values(metric, label) lists the label's values on the metric.
      const variable = /^label_values\((.+), (\w+)\)$/.exec(expr);
      if (variable) {
        const values = await prometheus.query(`group by (${variable[2]}) (${variable[1]})`);
        expect(values.map((v) => v.metric[variable[2]!])).toEqual(['tokenwarden']);
        continue;
      }
      const promql = expr
        .replaceAll('$job', 'tokenwarden')
        .replaceAll('$__rate_interval', '1m')
        .replaceAll('$__range', '5m');
      const results = await prometheus.query(promql);
      if (results.length === 0) empty.push(title);
    }
    // These panels must have data after the traffic; others (keys, audit failures) may be empty.
    for (const title of [
      'Decisions per second',
      'Refusals by reason',
      'Scope checks',
      'Scrape targets up',
    ]) {
      expect([title, empty.includes(title)]).toEqual([title, false]);
    }
  });
});
