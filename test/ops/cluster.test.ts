import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '@tokenwarden/testing';
import {
  OPS,
  driveTraffic,
  parseExposition,
  requireBinary,
  runWithInput,
  send,
  valueOf,
  type Sample,
} from './support';

const WORKERS = 2;
const TRAFFIC = { allowed: 12, missing: 6, forbidden: 4 };

describe('the cluster example: one aggregated /metrics for several worker processes', () => {
  let primary: ChildProcess;
  let output = '';
  let api: string;
  let metricsUrl: string;
  const workersSeen = new Map<string, number>();
  let exposition: string;
  let samples: Sample[];

  beforeAll(async () => {
    const [port, metricsPort] = [await freePort(), await freePort()];
    api = `http://127.0.0.1:${port}`;
    metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PORT: String(port),
      METRICS_PORT: String(metricsPort),
      HOST: '127.0.0.1',
      WORKERS: String(WORKERS),
    };
    // Each worker has its own MemoryStore here; the counts are what this test checks.
    delete env.REDIS_URL;
    delete env.DEMO_JWT_SECRET;
    primary = spawn(process.execPath, ['--import', 'tsx', 'src/cluster.ts'], {
      cwd: OPS,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no start within 45 s:\n${output}`)), 45_000);
      const read = (chunk: Buffer) => {
        output += chunk.toString('utf8');
        if (output.includes(`${WORKERS} workers on ${api}`)) {
          clearTimeout(timer);
          resolve();
        }
      };
      primary.stdout!.on('data', read);
      primary.stderr!.on('data', read);
      primary.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`the cluster exited (${code}):\n${output}`));
      });
    });

    // A token from whichever worker answers: every worker shares the primary's demo secret.
    const minted = await send(`${api}/demo/token`, {
      method: 'POST',
      body: { subject: 'agent-7', scopes: ['customers:read'] },
    });
    const token = (JSON.parse(minted.body) as { access_token: string }).access_token;
    await driveTraffic(api, token, TRAFFIC, (answer) => {
      const worker = String(answer.headers['x-worker']);
      workersSeen.set(worker, (workersSeen.get(worker) ?? 0) + 1);
    });
    const scraped = await send(metricsUrl);
    expect(scraped.status).toBe(200);
    exposition = scraped.body;
    samples = parseExposition(exposition);
  }, 90_000);

  afterAll(async () => {
    if (primary && primary.exitCode === null) {
      const exited = new Promise((resolve) => primary.once('exit', resolve));
      primary.kill('SIGTERM');
      await exited;
    }
  }, 20_000);

  it('spreads the requests over every worker', () => {
    expect(workersSeen.size).toBe(WORKERS);
    const total = TRAFFIC.allowed + TRAFFIC.missing + TRAFFIC.forbidden;
    // No worker saw everything, so no single worker's registry could show the totals below.
    for (const served of workersSeen.values()) expect(served).toBeLessThan(total);
  });

  it("sums every worker's counts on the primary", () => {
    const decisions = (reason: string) =>
      valueOf(samples, 'tokenwarden_decisions_total', { reason });
    expect({
      lawful_basis: decisions('lawful_basis'),
      token_missing: decisions('token_missing'),
      insufficient_scope: decisions('insufficient_scope'),
    }).toEqual({
      lawful_basis: TRAFFIC.allowed,
      token_missing: TRAFFIC.missing,
      insufficient_scope: TRAFFIC.forbidden,
    });
    const total = TRAFFIC.allowed + TRAFFIC.missing + TRAFFIC.forbidden;
    const count = (outcome: string) =>
      valueOf(samples, 'tokenwarden_decision_duration_seconds_count', { outcome });
    expect(count('allow') + count('deny')).toBe(total);
    // Histogram buckets are summed too: the +Inf bucket equals the count.
    expect(
      valueOf(samples, 'tokenwarden_decision_duration_seconds_bucket', {
        outcome: 'deny',
        le: '+Inf',
      }),
    ).toBe(count('deny'));
    expect(valueOf(samples, 'tokenwarden_scope_checks_total', { outcome: 'fail' })).toBe(
      TRAFFIC.forbidden,
    );
  });

  it('serves one series per label set, which passes promtool check metrics', async () => {
    const keys = samples.map((s) => s.name + JSON.stringify(s.labels));
    expect(new Set(keys).size).toBe(keys.length);
    const result = await runWithInput(requireBinary('promtool'), ['check', 'metrics'], exposition);
    expect([result.code, result.output]).toEqual([0, '']);
  });

  it('does not count a scrape twice', async () => {
    const again = parseExposition((await send(metricsUrl)).body);
    expect(valueOf(again, 'tokenwarden_decisions_total', { reason: 'lawful_basis' })).toBe(
      TRAFFIC.allowed,
    );
  });

  it('stops its workers with the primary', async () => {
    const exited = new Promise<number | null>((resolve) => primary.once('exit', resolve));
    primary.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(send(`${api}/health`)).rejects.toThrow(/ECONNREFUSED/);
  });
});
