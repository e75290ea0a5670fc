import { describe, expect, it } from '@jest/globals';
import { dashboardQueries, metricsIn, readCatalog, readDashboard } from './support';

const catalog = readCatalog();
const histograms = new Set(
  [...catalog.entries.values()].filter((e) => e.type === 'histogram').map((e) => e.name),
);

describe('the Grafana dashboard (examples/ops/grafana)', () => {
  const dashboard = readDashboard();
  const queries = dashboardQueries(dashboard);

  it('is a dashboard of panels that each run at least one query', () => {
    const panels = dashboard.panels.filter((p) => p.type !== 'row');
    expect(panels.length).toBeGreaterThan(10);
    for (const panel of panels) {
      expect([
        panel.title,
        (panel.targets ?? []).filter((t) => t.expr.trim() !== '').length > 0,
      ]).toEqual([panel.title, true]);
      expect(panel.datasource).toEqual({ type: 'prometheus', uid: '${datasource}' });
    }
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('queries only metrics of the catalog', () => {
    for (const { title, expr } of queries) {
      const used = metricsIn(expr, histograms);
      expect([title, expr, used.size > 0 || /^up\{/.test(expr)]).toEqual([title, expr, true]);
      for (const name of used)
        expect([title, name, catalog.entries.has(name)]).toEqual([title, name, true]);
    }
  });

  it('shows every metric of the catalog somewhere', () => {
    const shown = new Set(queries.flatMap(({ expr }) => [...metricsIn(expr, histograms)]));
    expect([...catalog.entries.keys()].filter((name) => !shown.has(name))).toEqual([]);
  });

  it('uses only its own variables and Grafana built-ins', () => {
    const defined = new Set(dashboard.templating.list.map((v) => v.name));
    const builtIn = new Set(['__rate_interval', '__range', '__interval']);
    for (const { expr } of queries) {
      for (const m of expr.matchAll(/\$\{?(\w+)\}?/g)) {
        expect([m[1], defined.has(m[1]!) || builtIn.has(m[1]!)]).toEqual([m[1], true]);
      }
    }
    expect(defined).toEqual(new Set(['datasource', 'job']));
  });
});
