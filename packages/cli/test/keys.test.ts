import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { randomBytes, randomUUID } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { Redis } from 'ioredis';
import { masterKey, SigningKeyRing } from '@tokenwarden/core';
import { auditKeys, RedisSigningKeyStore } from '@tokenwarden/redis';
import { runCli } from '@tokenwarden/cli';

const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const redis = new Redis(URL);
const prefixes: string[] = [];
const closers: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0)) await close();
  for (const prefix of prefixes.splice(0)) {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
  }
});
afterAll(async () => {
  await redis.quit();
});

function io(env: NodeJS.ProcessEnv) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
  stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
  return { io: { stdout, stderr, env }, out: () => out, err: () => err };
}

async function deployment() {
  const prefix = `tw-cli-keys-${randomUUID()}:`;
  prefixes.push(prefix);
  const master = randomBytes(32).toString('base64url');
  const store = new RedisSigningKeyStore({ url: URL, prefix, masterKey: masterKey(master) });
  const ring = new SigningKeyRing({
    store,
    maxTokenLifetimeMs: 600_000,
    activationDelayMs: 60_000,
    refreshIntervalMs: 10_000,
    // After a re-wrap this ring (old master key only) warns on every reload: expected here.
    logger: { warn: () => {} },
  });
  await ring.start();
  closers.push(
    () => ring.close(),
    () => store.close(),
  );
  const env = { REDIS_URL: URL, TOKENWARDEN_MASTER_KEY: master };
  const cli = async (...args: string[]) => cliWith({}, ...args);
  const cliWith = async (extra: NodeJS.ProcessEnv, ...args: string[]) => {
    const run = io({ ...env, ...extra });
    const code = await runCli(['--prefix', prefix, ...args], run.io);
    return { code, out: run.out(), err: run.err() };
  };
  return { ring, cli, cliWith, master, prefix };
}

/** The events in the audit stream under `prefix`, oldest first. */
async function streamEvents(prefix: string) {
  const entries = await redis.xrange(auditKeys(prefix).stream, '-', '+');
  // An entry holds one event per line (field `lines`).
  return entries.flatMap(([, fields]) =>
    fields[1]!.split('\n').map(
      (line) =>
        JSON.parse(line) as {
          type: string;
          actor?: string;
          producer: string;
          detail: Record<string, string>;
        },
    ),
  );
}

describe('tokenwarden keys (real Redis)', () => {
  it('rotates with the settings the rings stored; a running ring picks the key up', async () => {
    const { ring, cli } = await deployment();
    const before = ring.signingKey().kid;
    const rotated = await cli('--json', 'keys', 'rotate');
    expect(rotated.code).toBe(0);
    const result = JSON.parse(rotated.out) as {
      kid: string;
      activeFrom: string;
      previousKid: string;
      previousVerifyUntil: string;
    };
    expect(result.previousKid).toBe(before);
    // Old key verifies for the token lifetime plus tolerance after the new one starts signing.
    expect(Date.parse(result.previousVerifyUntil) - Date.parse(result.activeFrom)).toBe(605_000);
    const deadline = Date.now() + 5_000;
    while (ring.select(result.kid) === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(ring.select(result.kid)).toBeDefined();
    expect(ring.signingKey().kid).toBe(before);

    const listed = await cli('keys', 'list');
    expect(listed.out).toMatch(new RegExp(`${before}\\s+ES256\\s+active`));
    expect(listed.out).toMatch(new RegExp(`${result.kid}\\s+ES256\\s+next`));

    const jwks = await cli('keys', 'jwks');
    const set = JSON.parse(jwks.out) as { keys: { kid: string; d?: string }[] };
    expect(set.keys.map((k) => k.kid)).toEqual([before, result.kid]);
    expect(set.keys.every((k) => k.d === undefined)).toBe(true);
  });

  it('signs at once with --now and audits the rotation without any key material', async () => {
    const { ring, cli } = await deployment();
    const { mkdtempSync, readFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const file = join(mkdtempSync(join(tmpdir(), 'tw-audit-')), 'audit.jsonl');
    const before = ring.signingKey().kid;
    const { out, code } = await cli(
      'keys',
      'rotate',
      '--now',
      '--actor',
      'sec-ops',
      '--audit-file',
      file,
    );
    expect(code).toBe(0);
    const kid = /new signing key (\S+)/.exec(out)![1]!;
    const deadline = Date.now() + 5_000;
    while (ring.signingKey().kid !== kid && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(ring.signingKey().kid).toBe(kid);
    const events = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map(
        (line) =>
          JSON.parse(line) as { type: string; actor: string; detail: Record<string, string> },
      );
    expect(events.map((e) => e.type)).toEqual(['signing_key.created', 'signing_key.rotated']);
    expect(events[1]).toMatchObject({ actor: 'sec-ops', detail: { kid, previousKid: before } });
    expect(readFileSync(file, 'utf8')).not.toMatch(/PRIVATE|"d":/);
  });

  it('refuses to rotate without the master key, and with a wrong one fails loudly', async () => {
    const { cli } = await deployment();
    const run = io({ REDIS_URL: URL });
    const prefix = prefixes.at(-1)!;
    expect(await runCli(['--prefix', prefix, 'keys', 'rotate'], run.io)).toBe(2);
    expect(run.err()).toMatch(/TOKENWARDEN_MASTER_KEY/);
    const wrong = io({ REDIS_URL: URL, TOKENWARDEN_MASTER_KEY: randomBytes(32).toString('hex') });
    expect(await runCli(['--prefix', prefix, 'keys', 'rotate'], wrong.io)).toBe(1);
    expect(wrong.err()).toMatch(/master key/);
    // list and jwks need no master key.
    expect((await cli('keys', 'list')).code).toBe(0);
  });

  it('re-wraps under a new master key', async () => {
    const { cli, master } = await deployment();
    const next = randomBytes(32).toString('base64url');
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'tw-mk-'));
    writeFileSync(join(dir, 'old'), master);
    writeFileSync(join(dir, 'new'), next);
    const done = await cli(
      'keys',
      'rewrap',
      '--previous-master-key-file',
      join(dir, 'old'),
      '--master-key-file',
      join(dir, 'new'),
      '--audit-stream',
      '--actor',
      'sec-ops',
    );
    expect(done.code).toBe(0);
    expect(done.out).toContain('re-wrapped 1 signing key(s)');
    const events = await streamEvents(prefixes.at(-1)!);
    expect(events.map((e) => [e.type, e.actor, e.detail])).toEqual([
      ['signing_key.rewrapped', 'sec-ops', { rewrapped: 1 }],
    ]);
    expect(done.out + done.err).not.toContain(next);
    const prefix = prefixes.at(-1)!;
    const store = new RedisSigningKeyStore({ url: URL, prefix, masterKey: masterKey(next) });
    closers.push(() => store.close());
    expect((await store.load()).keys).toHaveLength(1);
  });

  it('writes the rotation to the Redis audit stream the nodes use (--audit-stream), flushed before it exits', async () => {
    const { ring, cli, prefix } = await deployment();
    const before = ring.signingKey().kid;
    const run = await cli('--json', 'keys', 'rotate', '--audit-stream', '--actor', 'sec-ops');
    expect(run).toMatchObject({ code: 0, err: '' });
    const { kid } = JSON.parse(run.out) as { kid: string };
    // runCli has resolved: the events are in the stream already, with no wait.
    const events = await streamEvents(prefix);
    expect(events.map((e) => e.type)).toEqual(['signing_key.created', 'signing_key.rotated']);
    expect(events[1]).toMatchObject({ actor: 'sec-ops', detail: { kid, previousKid: before } });
    expect(JSON.stringify(events)).not.toMatch(/PRIVATE|"d":/);
  });

  it("follows $TOKENWARDEN_AUDIT_STREAM, and --audit-stream-prefix names the nodes' stream prefix", async () => {
    const { cliWith, prefix } = await deployment();
    expect((await cliWith({ TOKENWARDEN_AUDIT_STREAM: '1' }, 'keys', 'rotate')).code).toBe(0);
    expect((await streamEvents(prefix)).map((e) => e.type)).toEqual([
      'signing_key.created',
      'signing_key.rotated',
    ]);
    const nodes = `${prefix}nodes:`;
    prefixes.push(nodes);
    const run = await cliWith({}, 'keys', 'rotate', '--audit-stream-prefix', nodes);
    expect(run.code).toBe(0);
    expect((await streamEvents(nodes)).map((e) => e.type)).toEqual([
      'signing_key.created',
      'signing_key.rotated',
    ]);
  });

  it('exits 1, after printing the new key, when the rotation was made but its audit event was lost', async () => {
    const { cli, ring } = await deployment();
    const { mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const missing = join(mkdtempSync(join(tmpdir(), 'tw-audit-')), 'no-dir', 'audit.jsonl');
    const run = await cli('keys', 'rotate', '--audit-file', missing);
    expect(run.code).toBe(1);
    expect(run.out).toMatch(/new signing key (\S+)/);
    expect(run.err).toMatch(/the change was made, but its audit event could not be written/);
    await ring.refresh();
    expect(ring.keys()).toHaveLength(2);
  });

  it('rotates to EdDSA (Ed25519): the ring picks the key up and the JWKS publishes it as OKP', async () => {
    const { ring, cli } = await deployment();
    const run = await cli('--json', 'keys', 'rotate', '--alg', 'EdDSA', '--now');
    expect(run.code).toBe(0);
    const { kid, alg } = JSON.parse(run.out) as { kid: string; alg: string };
    expect(alg).toBe('EdDSA');
    const deadline = Date.now() + 5_000;
    while (ring.signingKey().kid !== kid && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(ring.signingKey()).toMatchObject({ kid, alg: 'EdDSA' });
    const jwks = JSON.parse((await cli('keys', 'jwks')).out) as { keys: Record<string, string>[] };
    expect(jwks.keys.find((k) => k.kid === kid)).toMatchObject({ kty: 'OKP', crv: 'Ed25519' });
    // The next rotation keeps the stored algorithm.
    const next = JSON.parse((await cli('--json', 'keys', 'rotate')).out) as { alg: string };
    expect(next.alg).toBe('EdDSA');
    const bad = await cli('keys', 'rotate', '--alg', 'none');
    expect(bad.code).toBe(1);
    expect(bad.err).toMatch(/'none' is not supported/);
  });
});
