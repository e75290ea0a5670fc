/**
 * `tokenwarden report processing` and `report breach` over the trail of a million events: each
 * runs in a child process of its own (the CLI, in process, under tsx), which reports its peak
 * resident set size, so the memory bound holds for the whole process, not only its heap. The
 * figures are checked against the generator's arithmetic.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { BreachReport, ProcessingReport } from '@tokenwarden/core/reports';
import {
  CLIENTS,
  EVENTS,
  fields,
  LEAKED,
  MILLION_POLICY_TEXT,
  STEP_MS,
  T0,
  TOKENS,
  writeTrail,
} from './million-trail';

const ROOT = resolve(__dirname, '../../../..');
/** A report holding the events would take gigabytes; the process itself starts near 130 MB. */
const MAX_RSS_MB = 512;

const dir = mkdtempSync(join(tmpdir(), 'tw-million-gdpr-'));
const trail = join(dir, 'audit.jsonl');
const policy = join(dir, 'policy.yaml');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let writeMs = 0;
beforeAll(() => {
  writeMs = writeTrail(trail);
  writeFileSync(policy, MILLION_POLICY_TEXT);
}, 120_000);

interface Run {
  readonly code: number;
  readonly ms: number;
  readonly maxRssKb: number;
}

/** Runs `tokenwarden <args>` in a child process; resolves its exit code, time and peak RSS. */
function measured(args: readonly string[]): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(
      join(ROOT, 'node_modules', '.bin', 'tsx'),
      [join(__dirname, 'measure-cli.ts'), ...args],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk));
    child.on('error', fail);
    child.on('close', () => {
      const line = out.trim().split('\n').pop() ?? '';
      try {
        done(JSON.parse(line) as Run);
      } catch {
        fail(new Error(`no measurement from the child: ${err || out}`));
      }
    });
  });
}

function record(name: string, run: Run): void {
  // The figures for the record (docs/reports.md): printed by every run.
  process.stdout.write(
    `million-event trail (${(statSync(trail).size / 1e6).toFixed(0)} MB, written in ${(writeMs / 1000).toFixed(1)} s): ` +
      `report ${name} ${(run.ms / 1000).toFixed(1)} s, peak RSS ${(run.maxRssKb / 1024).toFixed(0)} MB\n`,
  );
}

it('report processing: the records of a million events in bounded memory, exact figures', async () => {
  const out = join(dir, 'processing.json');
  const run = await measured([
    '--json',
    'report',
    'processing',
    '--file',
    trail,
    '--policy',
    policy,
    '--output',
    out,
  ]);
  record('processing', run);
  expect(run.code).toBe(0);
  expect(run.maxRssKb / 1024).toBeLessThan(MAX_RSS_MB);

  let allowed = 0;
  const people = new Set<number>();
  const byClient = new Map<string, { allowed: number; denied: number }>();
  for (let i = 1; i <= EVENTS; i++) {
    const f = fields(i);
    const c = byClient.get(f.client) ?? { allowed: 0, denied: 0 };
    byClient.set(f.client, c);
    if (!f.allow) {
      c.denied += 1;
      continue;
    }
    c.allowed += 1;
    allowed += 1;
    people.add(f.customer);
  }
  const report = JSON.parse(readFileSync(out, 'utf8')) as ProcessingReport;
  expect(report.eventsRead).toBe(EVENTS);
  expect(report.chain.verified).toBe(true);
  const fulfilment = report.activities.find((a) => a.name === 'order_fulfilment')!;
  expect(fulfilment.observed).toMatchObject({
    accesses: EVENTS,
    allowed,
    denied: EVENTS - allowed,
    dataSubjects: people.size,
    dataSubjectsExact: true,
    dataCategories: ['contact_details', 'purchase_history'],
    firstUse: new Date(T0 + STEP_MS).toISOString(),
    lastUse: new Date(T0 + EVENTS * STEP_MS).toISOString(),
  });
  expect(fulfilment.observed.clients).toEqual(
    expect.arrayContaining(CLIENTS.map((client) => ({ client, ...byClient.get(client)! }))),
  );
  expect(report.security.accessControl).toMatchObject({ decisions: EVENTS, allowed });
}, 180_000);

it('report breach: one leaked token among a million events, in bounded memory', async () => {
  const leakedAt = T0 + 500_000 * STEP_MS;
  const detectedAt = leakedAt + 3_600_000;
  const out = join(dir, 'breach.json');
  const run = await measured([
    '--json',
    'report',
    'breach',
    '--file',
    trail,
    '--policy',
    policy,
    '--credential',
    `t-${LEAKED}`,
    '--leaked-at',
    new Date(leakedAt).toISOString(),
    '--detected-at',
    new Date(detectedAt).toISOString(),
    '--output',
    out,
  ]);
  record('breach', run);
  expect(run.code).toBe(0);
  expect(run.maxRssKb / 1024).toBeLessThan(MAX_RSS_MB);

  const subjects = new Map<string, { categories: Set<string>; accesses: number }>();
  let records = 0;
  for (let i = LEAKED; i <= EVENTS; i += TOKENS) {
    const f = fields(i);
    if (f.time < leakedAt || !f.allow) continue;
    records += 1;
    const s = subjects.get(`c-${f.customer}`) ?? { categories: new Set<string>(), accesses: 0 };
    subjects.set(`c-${f.customer}`, s);
    s.categories.add(f.route[2] === 'customers:read' ? 'contact_details' : 'purchase_history');
    s.accesses += 1;
  }
  const report = JSON.parse(readFileSync(out, 'utf8')) as BreachReport;
  expect(report.eventsRead).toBe(EVENTS);
  expect(records).toBeGreaterThan(5);
  expect(report.concerned).toMatchObject({
    dataSubjects: subjects.size,
    records,
    approximate: false,
  });
  expect(report.nature.reads).toBe(records);
  expect(report.timeline.notifyAuthorityBy).toBe(
    new Date(detectedAt + 72 * 3_600_000).toISOString(),
  );
  expect(
    report.subjects.map((s) => [s.dataSubject, s.dataCategories.join(' '), s.accesses]),
  ).toEqual(
    [...subjects.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([id, s]) => [id, [...s.categories].sort().join(' '), s.accesses]),
  );
}, 180_000);
