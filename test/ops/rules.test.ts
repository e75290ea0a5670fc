import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { runProcess } from '@tokenwarden/testing';
import { OPS, metricsIn, readCatalog, requireBinary } from './support';

const DIR = join(OPS, 'prometheus');
const RULES = readFileSync(join(DIR, 'tokenwarden.rules.yml'), 'utf8');
const TESTS = readFileSync(join(DIR, 'tokenwarden.rules.test.yml'), 'utf8');
const ALERTS = [...RULES.matchAll(/^\s*- alert: (\w+)$/gm)].map((m) => m[1]!);

/** The alerts the issue asks for, each found by name in the rules. */
const REQUIRED = [
  'TokenwardenRevokedTokenUse',
  'TokenwardenConsentWithdrawnUse',
  'TokenwardenStoreUnavailable',
  'TokenwardenStoreStateLost',
  'TokenwardenAuditSpooling',
  'TokenwardenAuditEventsDropped',
  'TokenwardenApiKeysExpiringSoon',
  'TokenwardenSigningKeyPastRotation',
  'TokenwardenTokenLifetimesNearCap',
  'TokenwardenDecisionLatencyHigh',
];

describe('the Prometheus alerting rules (examples/ops/prometheus)', () => {
  it('pass promtool check rules', async () => {
    const result = await runProcess(
      requireBinary('promtool'),
      ['check', 'rules', 'tokenwarden.rules.yml'],
      { cwd: DIR },
    );
    expect([result.code, result.stdout + result.stderr]).toEqual([
      0,
      expect.stringContaining(`SUCCESS: ${ALERTS.length} rules found`),
    ]);
  });

  it("are loaded by the examples' prometheus.yml, which passes promtool check config", async () => {
    const result = await runProcess(
      requireBinary('promtool'),
      ['check', 'config', 'prometheus.yml'],
      { cwd: DIR },
    );
    expect([result.code, result.stdout + result.stderr]).toEqual([
      0,
      expect.stringContaining(`SUCCESS: ${ALERTS.length} rules found`),
    ]);
  });

  it('pass their promtool unit tests', async () => {
    const result = await runProcess(
      requireBinary('promtool'),
      ['test', 'rules', 'tokenwarden.rules.test.yml'],
      { cwd: DIR },
    );
    expect([result.code, result.stdout + result.stderr]).toEqual([
      0,
      expect.stringContaining('SUCCESS'),
    ]);
  });

  it('cover leaks, the store, audit, keys, token lifetimes and latency', () => {
    expect(ALERTS).toEqual(expect.arrayContaining(REQUIRED));
  });

  it.each(ALERTS)('%s has a unit test where it fires and one where it stays quiet', (alert) => {
    const evals = TESTS.split(/^\s*- eval_time: /m).filter((block) =>
      new RegExp(`^\\s*alertname: ${alert}$`, 'm').test(block),
    );
    const quiet = evals.filter((block) => /exp_alerts: \[\]/.test(block));
    const firing = evals.filter((block) => /exp_labels:/.test(block));
    expect([quiet.length > 0, firing.length > 0]).toEqual([true, true]);
    // A quiet evaluation with a calm series next to the firing one proves the threshold matters.
    const test = TESTS.split(/^ {2}- interval: /m).find((t) => t.includes(`alertname: ${alert}`));
    expect(test).toMatch(/job="calm"|instance="api-2:3000"/);
  });

  it('read only metrics of the catalog', () => {
    const { entries } = readCatalog();
    const histograms = new Set(
      [...entries.values()].filter((e) => e.type === 'histogram').map((e) => e.name),
    );
    const used = metricsIn(RULES, histograms);
    expect(used.size).toBeGreaterThan(5);
    for (const name of used) expect([name, entries.has(name)]).toEqual([name, true]);
  });
});
