import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { EXAMPLE_APPS, type RunningApp } from './apps';
import { PrometheusServer } from './prometheus-server';
import { OPS, dashboardQueries, driveTraffic, readDashboard, send } from './support';

const TRAFFIC = { allowed: 5, missing: 3, forbidden: 2 };

/** `{ label value: sample value }` of a query's result, keyed by one label. */
const byLabel = (results: { metric: Record<string, string>; value: number }[], label: string) =>
  Object.fromEntries(results.map((r) => [r.metric[label] ?? '', r.value]));

describe('a real Prometheus scraping the express-api example', () => {
  let app: RunningApp;
  let prometheus: PrometheusServer;

  beforeAll(async () => {
    app = await EXAMPLE_APPS['express-api']!();
    prometheus = await PrometheusServer.start({
      targets: [new URL(app.baseUrl).host],
      ruleFiles: [join(OPS, 'prometheus', 'tokenwarden.rules.yml')],
    });
    // One scrape before the traffic, so the counters' rise is seen from their first value.
    await prometheus.waitFor('first scrape', async () => {
      const up = await prometheus.query('up{job="tokenwarden"}');
      return up.length === 1 && up[0]!.value === 1;
    });
    const token = app.issue('agent-7', ['customers:read']);
    await driveTraffic(app.baseUrl, token, TRAFFIC);
    // A forged token: signed with another key.
    const forged = token.slice(0, token.lastIndexOf('.') + 1) + 'A'.repeat(43);
    expect((await send(`${app.baseUrl}/customers/c-1001`, { token: forged })).status).toBe(401);
  }, 60_000);

  afterAll(async () => {
    await prometheus?.stop();
    await app?.close();
  });

  it('stores the decisions by outcome and reason, as sent', async () => {
    const expected = {
      lawful_basis: TRAFFIC.allowed,
      token_missing: TRAFFIC.missing,
      insufficient_scope: TRAFFIC.forbidden,
      invalid_signature: 1,
    };
    let reasons: Record<string, number> = {};
    await prometheus.waitFor('the traffic in the scraped decisions', async () => {
      reasons = byLabel(
        await prometheus.query('sum by (reason) (tokenwarden_decisions_total{job="tokenwarden"})'),
        'reason',
      );
      return JSON.stringify(reasons) === JSON.stringify({ ...reasons, ...expected });
    });
    expect(reasons).toEqual(expected);
    const outcomes = byLabel(
      await prometheus.query('sum by (outcome) (tokenwarden_decisions_total{job="tokenwarden"})'),
      'outcome',
    );
    expect(outcomes).toEqual({
      allow: TRAFFIC.allowed,
      deny: TRAFFIC.missing + TRAFFIC.forbidden + 1,
    });
  });

  it('stores the histograms and checks that go with them', async () => {
    const total = TRAFFIC.allowed + TRAFFIC.missing + TRAFFIC.forbidden + 1;
    const [count] = await prometheus.query(
      'sum(tokenwarden_decision_duration_seconds_count{job="tokenwarden"})',
    );
    expect(count?.value).toBe(total);
    // Every decision took less than a second: the +Inf and 1 s buckets hold them all.
    const [underOneSecond] = await prometheus.query(
      'sum(tokenwarden_decision_duration_seconds_bucket{job="tokenwarden",le="1"})',
    );
    expect(underOneSecond?.value).toBe(total);
    const scopes = byLabel(
      await prometheus.query(
        'sum by (outcome) (tokenwarden_scope_checks_total{job="tokenwarden"})',
      ),
      'outcome',
    );
    expect(scopes).toEqual({ pass: TRAFFIC.allowed, fail: TRAFFIC.forbidden });
    // Token age is observed for every verified token (allowed and scope-refused requests).
    const [ages] = await prometheus.query(
      'sum(tokenwarden_token_age_seconds_count{job="tokenwarden"})',
    );
    expect(ages?.value).toBe(TRAFFIC.allowed + TRAFFIC.forbidden);
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
    expect(rules.length).toBe(14);
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
