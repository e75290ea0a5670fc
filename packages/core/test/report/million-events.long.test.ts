/**
 * A report over a trail of a million events read from one JSON-lines file: it must finish with
 * bounded memory (the events stream through; only aggregates stay) and give exact figures. The
 * file is written with plain string writes and the real chain hash, so the chain verifies.
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { checkPolicy } from '@tokenwarden/core/policy';
import { exposureReport, JsonLinesSource, scopesReport } from '@tokenwarden/core/reports';
import {
  EVENTS,
  fields,
  LEAKED,
  MILLION_POLICY_TEXT,
  STEP_MS,
  T0,
  writeTrail,
} from './million-trail';

const policy = checkPolicy(MILLION_POLICY_TEXT).policy!;

const dir = mkdtempSync(join(tmpdir(), 'tw-million-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('reads a million events with bounded memory and exact figures', async () => {
  const file = join(dir, 'audit.jsonl');
  const writeMs = writeTrail(file);

  // The truth, by arithmetic over the same generator.
  const leakedAt = T0 + 500_000 * STEP_MS;
  let uses = 0;
  let allowed = 0;
  let afterLeak = 0;
  const contact = new Set<number>();
  const purchases = new Set<number>();
  const contactAfter = new Set<number>();
  const purchasesAfter = new Set<number>();
  let contactUses = 0;
  let purchaseUses = 0;
  let first = 0;
  let last = 0;
  const exercised = new Map<string, Set<string>>();
  for (let i = 1; i <= EVENTS; i++) {
    const f = fields(i);
    if (f.allow) {
      const set = exercised.get(f.client) ?? new Set<string>();
      set.add(f.route[2]);
      exercised.set(f.client, set);
    }
    if (f.token !== LEAKED) continue;
    uses += 1;
    if (first === 0) first = f.time;
    last = f.time;
    if (f.time >= leakedAt) afterLeak += 1;
    if (!f.allow) continue;
    allowed += 1;
    if (f.route[2] === 'customers:read') {
      contactUses += 1;
      contact.add(f.customer);
      if (f.time >= leakedAt) contactAfter.add(f.customer);
    } else {
      purchaseUses += 1;
      purchases.add(f.customer);
      if (f.time >= leakedAt) purchasesAfter.add(f.customer);
    }
  }

  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const sample = () => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  };
  const started = Date.now();
  const report = await exposureReport(
    new JsonLinesSource({ path: file }),
    { tokenId: `t-${LEAKED}` },
    { policy, leakedAt, onProgress: sample },
  );
  const exposureMs = Date.now() - started;
  sample();

  expect(report.eventsRead).toBe(EVENTS);
  expect(report.chain.verified).toBe(true);
  expect(report.chain.chains).toEqual([
    expect.objectContaining({ producer: 'node-1', events: EVENTS, firstSeq: 1, lastSeq: EVENTS }),
  ]);
  expect(report.didReach.uses).toBe(uses);
  expect(report.didReach.allowed).toBe(allowed);
  expect(allowed).toBeGreaterThan(10);
  expect(purchases.size).toBeGreaterThan(2);
  expect(report.didReach.usesAfterLeak).toBe(afterLeak);
  expect(report.didReach.firstUse).toBe(new Date(first).toISOString());
  expect(report.didReach.lastUse).toBe(new Date(last).toISOString());
  expect(report.didReach.dataSubjectsByCategory).toEqual([
    {
      category: 'contact_details',
      dataSubjects: contact.size,
      dataSubjectsAfterLeak: contactAfter.size,
      uses: contactUses,
    },
    {
      category: 'purchase_history',
      dataSubjects: purchases.size,
      dataSubjectsAfterLeak: purchasesAfter.size,
      uses: purchaseUses,
    },
  ]);

  const startedScopes = Date.now();
  const scopes = await scopesReport(new JsonLinesSource({ path: file }), {
    policy,
    onProgress: sample,
  });
  const scopesMs = Date.now() - startedScopes;
  sample();
  for (const c of scopes.clients) {
    expect(c.exercised.map((e) => e.scope)).toEqual([...(exercised.get(c.client) ?? [])].sort());
  }
  expect(scopes.clients.find((c) => c.client === 'crm')!.toRemove).toEqual(['customers:write']);

  const growthMb = (peak - before) / 1e6;
  const sizeMb = statSync(file).size / 1e6;
  // The figures for the record: printed by every run.
  process.stdout.write(
    `million-event trail: ${sizeMb.toFixed(0)} MB written in ${(writeMs / 1000).toFixed(1)} s; ` +
      `exposure report ${(exposureMs / 1000).toFixed(1)} s, scopes report ${(scopesMs / 1000).toFixed(1)} s; ` +
      `peak heap growth ${growthMb.toFixed(1)} MB\n`,
  );
  // heapUsed counts garbage not yet collected too (in one process with other test files it has
  // reached 260 MB, with the readers' escaping and sealed-field checks); holding the trail's
  // events would take several times the file's size, so the bound is a fraction of it.
  expect(growthMb).toBeLessThan(sizeMb * 0.7);
}, 180_000);
