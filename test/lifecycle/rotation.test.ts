/**
 * Rotation without downtime: two API processes share their signing keys through Redis; a third
 * party (the CLI) rotates; both keep issuing and verifying each other's tokens all along. No valid
 * token is refused, and once the old key is retired a token it signs is refused by both. Run with
 * ES256 keys and with EdDSA (Ed25519) keys.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomBytes, randomUUID, sign } from 'node:crypto';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import jwt from 'jsonwebtoken';
import { Redis } from 'ioredis';
import { masterKey } from '@tokenwarden/core';
import { RedisSigningKeyStore } from '@tokenwarden/redis';
import { runCli } from '@tokenwarden/cli';

const ROOT = join(__dirname, '..', '..');
const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const RUN = `tw-lifecycle-${randomUUID()}:`;
const MASTER = randomBytes(32).toString('base64url');
const SETTINGS = {
  maxTokenLifetimeMs: 3_000,
  clockToleranceMs: 1_000,
  activationDelayMs: 1_500,
  refreshIntervalMs: 500,
};

type Alg = 'ES256' | 'EdDSA';

interface Node {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
}
const nodes: Node[] = [];

function startNode(name: string, prefix: string, alg: Alg): Promise<Node> {
  const child = spawn(join(ROOT, 'node_modules', '.bin', 'tsx'), [join(__dirname, 'node.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      REDIS_URL: URL,
      TW_PREFIX: prefix,
      TW_ALG: alg,
      TW_MASTER_KEY: MASTER,
      TW_SETTINGS: JSON.stringify(SETTINGS),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`${name} did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const port = /READY (\d+)/.exec(out)?.[1];
      if (port) {
        clearTimeout(timer);
        const node = { name, child, url: `http://127.0.0.1:${port}` };
        nodes.push(node);
        resolve(node);
      }
    });
    child.on('exit', (code) => reject(new Error(`${name} exited with ${code}: ${err}`)));
  });
}

async function post<T>(node: Node, path: string, body?: unknown): Promise<T> {
  const response = await fetch(node.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body ?? {}),
  });
  return (await response.json()) as T;
}

const issue = (node: Node) => post<{ token: string; kid: string }>(node, '/issue');
const verify = (node: Node, token: string) =>
  post<{ ok: boolean; code?: string; kid?: string }>(node, '/verify', { token });

async function rotateWithCli(prefix: string): Promise<{
  kid: string;
  activeFrom: string;
  previousKid: string;
  previousVerifyUntil: string;
}> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const code = await runCli(['--prefix', prefix, '--json', 'keys', 'rotate'], {
    stdout,
    stderr,
    env: { REDIS_URL: URL, TOKENWARDEN_MASTER_KEY: MASTER },
  });
  if (code !== 0) throw new Error(`keys rotate failed: ${err}`);
  return JSON.parse(out) as {
    kid: string;
    activeFrom: string;
    previousKid: string;
    previousVerifyUntil: string;
  };
}

/** A token signed with `privateKeyPem` right now, valid in every other respect. */
function signWith(privateKeyPem: string, kid: string, alg: Alg): string {
  const iat = Math.floor(Date.now() / 1000);
  const claims = {
    iss: 'https://lifecycle.test/',
    aud: 'api',
    sub: 'app',
    jti: randomUUID(),
    iat,
    exp: iat + 2,
    scope: 'read',
  };
  const key = createPrivateKey(privateKeyPem);
  if (alg === 'ES256') return jwt.sign(claims, key, { algorithm: 'ES256', keyid: kid });
  // jsonwebtoken has no EdDSA: the compact JWS by hand.
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${b64({ alg, typ: 'JWT', kid })}.${b64(claims)}`;
  return `${input}.${sign(null, Buffer.from(input), key).toString('base64url')}`;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

afterAll(async () => {
  // Any node a failed start left behind.
  for (const node of nodes) if (node.child.exitCode === null) node.child.kill('SIGTERM');
  const redis = new Redis(URL);
  const keys = await redis.keys(`${RUN}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe.each(['ES256', 'EdDSA'] as const)(
  'signing key rotation (%s) on two processes sharing Redis',
  (alg) => {
    const PREFIX = `${RUN}${alg}:`;
    let pair: Node[] = [];

    beforeAll(async () => {
      pair = await Promise.all([startNode('a', PREFIX, alg), startNode('b', PREFIX, alg)]);
    }, 60_000);

    afterAll(async () => {
      for (const node of pair) node.child.kill('SIGTERM');
      await sleep(200);
    });

    it('never refuses a valid token across a rotation, and refuses the retired key afterwards', async () => {
      const [a, b] = pair as [Node, Node];
      const store = new RedisSigningKeyStore({
        url: URL,
        prefix: PREFIX,
        masterKey: masterKey(MASTER),
      });
      try {
        const first = await issue(a);
        expect((await issue(b)).kid).toBe(first.kid);
        const oldSecret = (await store.load()).keys.find((k) => k.kid === first.kid)!.secret;

        const refusals: string[] = [];
        const kidsSeen = new Set<string>();
        const live: { token: string; until: number; from: string }[] = [];
        let rotation: Awaited<ReturnType<typeof rotateWithCli>> | undefined;
        let overlapChecked = false;
        const started = Date.now();
        // Keep traffic going from before the rotation until well after the old key retired.
        while (
          rotation === undefined ||
          Date.now() < Date.parse(rotation.previousVerifyUntil) + 1_000
        ) {
          if (rotation === undefined && Date.now() - started > 700) {
            rotation = await rotateWithCli(PREFIX);
          }
          for (const [from, to] of [
            [a, b],
            [b, a],
          ] as const) {
            const issued = await issue(from);
            kidsSeen.add(`${from.name}:${issued.kid}`);
            live.push({
              token: issued.token,
              until: Date.now() + SETTINGS.maxTokenLifetimeMs - 1_100,
              from: from.name,
            });
            for (const node of [to, from]) {
              const result = await verify(node, issued.token);
              if (!result.ok)
                refusals.push(
                  `fresh token from ${from.name} refused by ${node.name}: ${result.code}`,
                );
            }
          }
          // Tokens issued earlier that have not expired yet must still pass, on both nodes.
          for (const entry of live.filter((t) => t.until > Date.now()).slice(-6)) {
            for (const node of [a, b]) {
              const result = await verify(node, entry.token);
              if (!result.ok && entry.until > Date.now()) {
                refusals.push(
                  `older token from ${entry.from} refused by ${node.name}: ${result.code}`,
                );
              }
            }
          }
          // During the overlap window the old key still verifies.
          if (
            rotation &&
            !overlapChecked &&
            Date.now() > Date.parse(rotation.activeFrom) + 200 &&
            Date.now() < Date.parse(rotation.previousVerifyUntil) - 1_000
          ) {
            const late = signWith(oldSecret, first.kid, alg);
            expect(await verify(a, late)).toMatchObject({ ok: true, kid: first.kid });
            expect(await verify(b, late)).toMatchObject({ ok: true, kid: first.kid });
            overlapChecked = true;
          }
          await sleep(50);
        }
        expect(refusals).toEqual([]);
        expect(overlapChecked).toBe(true);
        // Both nodes signed with both keys: the rotation really happened under traffic.
        expect([...kidsSeen].sort()).toEqual(
          [`a:${first.kid}`, `a:${rotation.kid}`, `b:${first.kid}`, `b:${rotation.kid}`].sort(),
        );
        // After retirement, even a fresh, otherwise valid token signed with the old key is refused.
        const forged = signWith(oldSecret, first.kid, alg);
        expect(await verify(a, forged)).toEqual({ ok: false, code: 'key_unknown' });
        expect(await verify(b, forged)).toEqual({ ok: false, code: 'key_unknown' });
        // And the retired key has left the shared set.
        await sleep(SETTINGS.refreshIntervalMs * 2);
        const info = await store.loadInfo();
        expect(info.keys.map((k) => [k.kid, k.alg])).toEqual([[rotation.kid, alg]]);
      } finally {
        await store.close();
      }
    }, 60_000);
  },
);
