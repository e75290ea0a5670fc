import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import {
  createAdmin,
  evaluateConsent,
  isRevoked,
  JsonLinesSink,
  StoreStateLostError,
  type AuditEvent,
  type AuditSink,
  type WardenAdmin,
} from '@tokenwarden/core/internal';
import { RedisStore, RedisStreamSink } from '@tokenwarden/redis';
import { Redis } from 'ioredis';
import { RUN_CHAIN_KEY, runCaptured } from './support';

/**
 * `tokenwarden state`: on the shared test Redis, each test under its own prefix (never flushed: a
 * loss of the state is every key of the prefix deleted, as a restart without persistence or a
 * FLUSHALL leaves it). A "node" is a RedisStore that read the state before the loss.
 */
const REDIS_URL = process.env['REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const RUN = `tw-cli-state:${randomBytes(6).toString('hex')}:`;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
let redis: Redis;
let dir: string;
let count = 0;
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(() => {
  redis = new Redis(REDIS_URL);
  dir = mkdtempSync(join(tmpdir(), 'tw-cli-state-'));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(async () => {
  await deleteKeys(RUN);
  await redis.quit();
  rmSync(dir, { recursive: true, force: true });
});

async function deleteKeys(prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.unlink(...keys);
  } while (cursor !== '0');
}

/** A prefix of its own, a node that reads it, the CLI on it, and a way to lose its state. */
function deployment() {
  const prefix = `${RUN}${(count += 1)}:`;
  const node = new RedisStore({ url: REDIS_URL, prefix, commandTimeoutMs: 2_000 });
  cleanups.push(() => node.close());
  return {
    prefix,
    node,
    cli: (...args: string[]) =>
      // The run's chain key: the operator's admin below chains its events with it.
      runCaptured(['--redis-url', REDIS_URL, '--prefix', prefix, ...args], RUN_CHAIN_KEY),
    /** Every key of the deployment's state is gone, except those of `keep` (an audit stream). */
    lose: async (keep?: string) => {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        cursor = next;
        const doomed = keys.filter((key) => keep === undefined || !key.startsWith(keep));
        if (doomed.length > 0) await redis.unlink(...doomed);
      } while (cursor !== '0');
    },
    /** What the node answers for a token: 'lost', 'revoked' or 'valid'. */
    token: async (tokenId: string, subject: string, issuedAt: number, client?: string) => {
      try {
        const snapshot = await node.lookup({ tokenId, subject, ...(client ? { client } : {}) });
        return isRevoked(snapshot, issuedAt) ? 'revoked' : 'valid';
      } catch (error) {
        if (error instanceof StoreStateLostError) return 'lost';
        throw error;
      }
    },
    /** The consent verdict the node gives a token issued at `issuedAt`, or 'lost'. */
    consent: async (subject: string, purpose: string, issuedAt: number) => {
      try {
        return evaluateConsent(await node.getConsent(subject, purpose), issuedAt, Date.now());
      } catch (error) {
        if (error instanceof StoreStateLostError) return 'lost';
        throw error;
      }
    },
  };
}

/** An operator's admin on `store`, auditing to `sinks`. */
function adminOf(store: RedisStore, sinks: AuditSink[]): WardenAdmin {
  const admin = createAdmin({
    store,
    purposes: ['marketing', 'research'],
    audit: { sinks },
    logger: { warn() {}, error() {} },
  });
  cleanups.push(() => admin.close());
  return admin;
}

/** The events of a JSON-lines audit file. */
function eventsIn(file: string): AuditEvent[] {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as AuditEvent);
}

/**
 * Writes the state an attacker would like to see forgotten through an admin auditing to `sinks`:
 * a revoked token, a revoked subject and client, a withdrawn consent, a consent withdrawn and
 * granted again, and a revocation whose token has long expired.
 */
async function guardedState(admin: WardenAdmin) {
  const issuedAt = Date.now() - 10_000;
  await admin.revokeToken('jti-leaked', { expiresAt: Date.now() + HOUR, reason: 'leaked' });
  await admin.revokeToken('jti-expired', { expiresAt: Date.now() - 2 * HOUR });
  await admin.revokeSubject('user-gone');
  await admin.revokeClient('app-gone');
  await admin.grantConsent({ subject: 'ds-1', purpose: 'marketing', source: 'form-1' });
  await admin.withdrawConsent({ subject: 'ds-1', purpose: 'marketing', source: 'ticket-9' });
  await admin.grantConsent({ subject: 'ds-2', purpose: 'research' });
  await admin.withdrawConsent({ subject: 'ds-2', purpose: 'research' });
  await new Promise((resolve) => setTimeout(resolve, 5));
  await admin.grantConsent({ subject: 'ds-2', purpose: 'research' });
  await admin.grantConsent({ subject: 'ds-3', purpose: 'marketing' });
  await admin.flushAudit();
  return { issuedAt };
}

/** The answers the node must give while the guarded state is in force. */
async function expectInForce(d: ReturnType<typeof deployment>, issuedAt: number) {
  const later = Date.now() + 1_000;
  expect(await d.token('jti-leaked', 'someone', later)).toBe('revoked');
  expect(await d.token('jti-other', 'user-gone', issuedAt)).toBe('revoked');
  expect(await d.token('jti-other', 'someone', issuedAt, 'app-gone')).toBe('revoked');
  expect(await d.token('jti-other', 'someone', issuedAt)).toBe('valid');
  expect(await d.consent('ds-1', 'marketing', later)).toBe('consent_withdrawn');
  // Granted again after the withdrawal: tokens issued before the withdrawal stay refused.
  expect(await d.consent('ds-2', 'research', issuedAt)).toBe('consent_withdrawn');
  expect(await d.consent('ds-2', 'research', later)).toBe('pass');
  expect(await d.consent('ds-3', 'marketing', issuedAt)).toBe('pass');
}

describe('tokenwarden state status and init', () => {
  it('status: no epoch, current once a node read, lost (exit 1) once Redis forgot the state', async () => {
    const d = deployment();
    const none = await d.cli('--json', 'state', 'status');
    expect(none.code).toBe(0);
    expect(JSON.parse(none.out)).toEqual({ status: 'missing' });

    await d.node.lookup({ tokenId: 't', subject: 's' });
    const current = await d.cli('state', 'status');
    expect(current).toMatchObject({ code: 0, err: '' });
    expect(current.out).toMatch(/^State: current: epoch \S+, created /);

    await d.lose();
    expect(await d.token('t', 's', Date.now())).toBe('lost');
    const lost = await d.cli('--json', 'state', 'status');
    expect(lost.code).toBe(1);
    expect(JSON.parse(lost.out)).toMatchObject({ status: 'lost', lostId: expect.any(String) });
    expect(lost.err).toContain('store_state_lost');
  });

  it('init: starts the first epoch once, audited; never over an epoch or the record of a loss', async () => {
    const d = deployment();
    const audit = join(dir, `init-${count}.jsonl`);
    const first = await d.cli('state', 'init', '--actor', 'ops', '--audit-file', audit);
    expect(first).toMatchObject({ code: 0, err: '' });
    expect(first.out).toMatch(/State initialised: current: epoch \S+, initialized/);
    expect(eventsIn(audit)).toEqual([
      expect.objectContaining({ type: 'state.initialized', outcome: 'success', actor: 'ops' }),
    ]);
    const strict = new RedisStore({ url: REDIS_URL, prefix: d.prefix, epoch: 'require' });
    cleanups.push(() => strict.close());
    await expect(strict.lookup({ tokenId: 't', subject: 's' })).resolves.toBeDefined();

    const again = await d.cli('state', 'init');
    expect(again.code).toBe(1);
    expect(again.err).toContain('has an epoch already');

    await d.node.lookup({ tokenId: 't', subject: 's' });
    await d.lose();
    expect(await d.token('t', 's', Date.now())).toBe('lost');
    const over = await d.cli('state', 'init');
    expect(over.code).toBe(1);
    expect(over.err).toMatch(/the state was lost .*never init/);
    expect(await d.token('t', 's', Date.now())).toBe('lost');
  });
});

describe('tokenwarden state restore', () => {
  it('--from a JSON-lines trail: every revocation, mark and consent record in force again, a new epoch, audited', async () => {
    const d = deployment();
    const trail = join(dir, `trail-${count}.jsonl`);
    const admin = adminOf(d.node, [new JsonLinesSink({ file: trail })]);
    const { issuedAt } = await guardedState(admin);
    await expectInForce(d, issuedAt);

    await d.lose();
    expect(await d.token('jti-leaked', 'someone', Date.now())).toBe('lost');
    expect(await d.consent('ds-1', 'marketing', Date.now())).toBe('lost');

    const audit = join(dir, `restore-${count}.jsonl`);
    const run = await d.cli(
      'state',
      'restore',
      '--from',
      trail,
      '--actor',
      'ops',
      '--audit-file',
      audit,
    );
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toContain(`State restored from ${trail}.`);
    expect(run.out).toMatch(/before\s+LOST/);
    expect(run.out).toMatch(/audit chain\s+verified \(1 producer\)/);
    expect(run.out).toMatch(/revoked tokens\s+1\n/);
    expect(run.out).toMatch(/consent records\s+3\n/);
    expect(run.out).toMatch(/now\s+current: epoch \S+, restored/);
    await expectInForce(d, issuedAt);
    // The revocation of a token that expired long ago is not written back.
    expect(await redis.exists(`${d.prefix}{tw}:rev:jti-expired`)).toBe(0);
    // The records come back as they were, sources included.
    expect(await d.node.getConsent('ds-1', 'marketing')).toMatchObject({
      source: 'ticket-9',
      withdrawnAt: expect.any(Number),
    });

    const [restored] = eventsIn(audit);
    expect(restored).toMatchObject({
      type: 'state.restored',
      outcome: 'success',
      actor: 'ops',
      detail: { source: trail, chainVerified: true, tokens: 1, subjects: 1, clients: 1, all: 0 },
    });
    const status = await d.cli('--json', 'state', 'status');
    expect(JSON.parse(status.out)).toMatchObject({ status: 'current', origin: 'restored' });
  });

  it('--from the Redis audit stream (another Redis, or another prefix): the same state back', async () => {
    const d = deployment();
    const streamPrefix = `${d.prefix}audit-elsewhere:`;
    const sink = new RedisStreamSink({ url: REDIS_URL, prefix: streamPrefix });
    cleanups.push(() => sink.close());
    const admin = adminOf(d.node, [sink]);
    const { issuedAt } = await guardedState(admin);
    await expectInForce(d, issuedAt);
    await d.lose(streamPrefix);
    expect(await d.token('jti-leaked', 'someone', Date.now())).toBe('lost');

    const run = await d.cli(
      '--json',
      'state',
      'restore',
      '--from',
      REDIS_URL,
      '--from-prefix',
      streamPrefix,
    );
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(JSON.parse(run.out)).toMatchObject({
      before: { status: 'lost' },
      epoch: { status: 'current', origin: 'restored' },
      chainVerified: true,
      tokens: 1,
      subjects: 1,
      clients: 1,
      consents: 3,
    });
    await expectInForce(d, issuedAt);
  });

  it('refuses a trail whose chain does not verify, restoring nothing, unless --ignore-chain', async () => {
    const d = deployment();
    const trail = join(dir, `tampered-${count}.jsonl`);
    const admin = adminOf(d.node, [new JsonLinesSink({ file: trail })]);
    const { issuedAt } = await guardedState(admin);
    await expectInForce(d, issuedAt);
    await d.lose();
    // Someone edits the trail: the subject revocation now names another subject.
    writeFileSync(trail, readFileSync(trail, 'utf8').replace('"user-gone"', '"user-else"'));

    const refused = await d.cli('state', 'restore', '--from', trail);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(
      /does not verify: NOT verified \(broken chains: .+\)\. Nothing was restored/,
    );
    expect(await d.token('jti-leaked', 'someone', Date.now())).toBe('lost');
    expect(await redis.exists(`${d.prefix}{tw}:rev:jti-leaked`)).toBe(0);

    const forced = await d.cli('state', 'restore', '--from', trail, '--ignore-chain');
    expect(forced.code).toBe(0);
    expect(forced.out).toMatch(/audit chain\s+NOT verified/);
    expect(await d.token('jti-leaked', 'someone', Date.now())).toBe('revoked');
    expect(await d.token('jti-other', 'user-else', issuedAt)).toBe('revoked');
  });

  it('says what to pass when --from is missing or unreadable (exit 2), and leaves the state lost', async () => {
    const d = deployment();
    await d.node.lookup({ tokenId: 't', subject: 's' });
    await d.lose();
    const missing = await d.cli('state', 'restore');
    expect(missing.code).toBe(2);
    expect(missing.err).toContain('state restore needs --from');
    const unreadable = await d.cli('state', 'restore', '--from', join(dir, 'no-such.jsonl'));
    expect(unreadable.code).toBe(2);
    expect(unreadable.err).toMatch(/--from: cannot read .*no-such\.jsonl \(ENOENT\)/);
    const badUrl = await d.cli('state', 'restore', '--from', 'redis://:secret-horse@');
    expect(badUrl.code).toBe(2);
    expect(badUrl.err).not.toContain('secret-horse');
    expect(await d.token('t', 's', Date.now())).toBe('lost');
  });
});

describe('tokenwarden state accept-loss', () => {
  it('--revoke-all: every token issued up to the loss refused, newer tokens pass, a new epoch, audited', async () => {
    const d = deployment();
    const issuedBefore = Date.now() - 1_000;
    await d.node.lookup({ tokenId: 't', subject: 's' });
    await d.lose();
    expect(await d.token('t', 's', Date.now())).toBe('lost');

    const unconfirmed = await d.cli('state', 'accept-loss');
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.err).toContain('add --revoke-all');
    expect(await d.token('t', 's', Date.now())).toBe('lost');

    const audit = join(dir, `accept-${count}.jsonl`);
    const run = await d.cli(
      'state',
      'accept-loss',
      '--revoke-all',
      '--actor',
      'ops',
      '--audit-file',
      audit,
    );
    expect(run).toMatchObject({ code: 0, err: '' });
    expect(run.out).toContain('Loss accepted.');
    expect(run.out).toMatch(/now\s+current: epoch \S+, accepted/);
    expect(await d.token('t-old', 's', issuedBefore)).toBe('revoked');
    expect(await d.token('t-new', 's', Date.now() + 10_000)).toBe('valid');
    const events = eventsIn(audit);
    expect(events.map((e) => e.type)).toEqual(['all.revoked', 'state.loss_accepted']);
    expect(events[0]).toMatchObject({ actor: 'ops', detail: { reason: 'store_state_lost' } });
    expect(events[1]).toMatchObject({ actor: 'ops', detail: { lostEpoch: expect.any(String) } });

    // A later restore from this trail keeps the mark: the loss stays accepted.
    await d.lose();
    await d.node.lookup({ tokenId: 't', subject: 's' }).catch(() => undefined);
    expect((await d.cli('state', 'restore', '--from', audit)).code).toBe(0);
    expect(await d.token('t-old', 's', issuedBefore)).toBe('revoked');
  });

  it('refuses when the state is not lost', async () => {
    const d = deployment();
    await d.node.lookup({ tokenId: 't', subject: 's' });
    const run = await d.cli('state', 'accept-loss', '--revoke-all');
    expect(run.code).toBe(1);
    expect(run.err).toContain('the state is not lost');
    expect(await d.token('t', 's', Date.now() - MINUTE)).toBe('valid');
  });
});
