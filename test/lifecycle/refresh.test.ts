/**
 * Refresh-token reuse detection on two processes sharing Redis: a client refreshes on one node,
 * a copy of its old refresh token is replayed on the other, and from then on every access token
 * of the family is refused by both nodes, and the family's current refresh token is dead too.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Redis } from 'ioredis';

const ROOT = join(__dirname, '..', '..');
const URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const PREFIX = `tw-lifecycle-refresh-${randomUUID()}:`;
const MASTER = randomBytes(32).toString('base64url');
const SECRET = randomBytes(32).toString('base64url');

interface Node {
  readonly name: string;
  readonly child: ChildProcess;
  readonly url: string;
}
const nodes: Node[] = [];

function startNode(name: string): Promise<Node> {
  const child = spawn(
    join(ROOT, 'node_modules', '.bin', 'tsx'),
    [join(__dirname, 'refresh-node.ts')],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        REDIS_URL: URL,
        TW_PREFIX: PREFIX,
        TW_MASTER_KEY: MASTER,
        TW_CLIENT_SECRET: SECRET,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
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

interface TokenAnswer {
  access_token?: string;
  refresh_token?: string;
  error?: string;
}

async function token(node: Node, params: Record<string, string>): Promise<TokenAnswer> {
  const response = await fetch(`${node.url}/oauth/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`device:${SECRET}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(params).toString(),
  });
  return (await response.json()) as TokenAnswer;
}

async function check(node: Node, accessToken: string): Promise<{ outcome: string; code?: string }> {
  const response = await fetch(`${node.url}/check`, {
    headers: { authorization: `Bearer ${accessToken}` },
  });
  return (await response.json()) as { outcome: string; code?: string };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every key name, field and value stored under `prefix`, as one string. */
async function dump(prefix: string): Promise<string> {
  const redis = new Redis(URL);
  try {
    const parts: string[] = [];
    for (const key of await redis.keys(`${prefix}*`)) {
      parts.push(key);
      const type = await redis.type(key);
      if (type === 'hash') parts.push(...Object.entries(await redis.hgetall(key)).flat());
      else if (type === 'zset') parts.push(...(await redis.zrange(key, '0', '-1', 'WITHSCORES')));
      else if (type === 'string') parts.push((await redis.get(key)) ?? '');
      else if (type === 'stream') parts.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
    return parts.join('\n');
  } finally {
    await redis.quit();
  }
}

beforeAll(async () => {
  await Promise.all([startNode('a'), startNode('b')]);
}, 60_000);

afterAll(async () => {
  for (const node of nodes) node.child.kill('SIGTERM');
  await sleep(300);
  const redis = new Redis(URL);
  const keys = await redis.keys(`${PREFIX}*`);
  if (keys.length > 0) await redis.del(...keys);
  await redis.quit();
});

describe('refresh-token reuse detection on two processes sharing Redis', () => {
  it('a replayed refresh token on one node revokes the family and its access tokens on both', async () => {
    const [a, b] = nodes as [Node, Node];
    const first = await token(a, { grant_type: 'client_credentials' });
    expect(first.refresh_token).toMatch(/^twr_live_/);
    // The client refreshes on the other node: rotation through the shared credential store.
    const second = await token(b, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token!,
    });
    expect(second.error).toBeUndefined();
    expect(second.refresh_token).not.toBe(first.refresh_token);
    for (const node of [a, b]) {
      for (const access of [first.access_token!, second.access_token!]) {
        expect(await check(node, access)).toEqual({ outcome: 'allow' });
      }
    }

    // A copy of the first refresh token is replayed on node a.
    const replay = await token(a, {
      grant_type: 'refresh_token',
      refresh_token: first.refresh_token!,
    });
    expect(replay.error).toBe('invalid_grant');

    // Both nodes refuse both access tokens (revocation through the shared store, pushed to every
    // node's cache), without waiting for the tokens to expire.
    const deadline = Date.now() + 2_000;
    const refusals = async () => {
      const results: string[] = [];
      for (const node of [a, b]) {
        for (const access of [first.access_token!, second.access_token!]) {
          const decision = await check(node, access);
          results.push(`${decision.outcome}:${decision.code ?? ''}`);
        }
      }
      return results;
    };
    let results = await refusals();
    while (results.some((r) => r !== 'deny:token_revoked') && Date.now() < deadline) {
      await sleep(25);
      results = await refusals();
    }
    expect(results).toEqual(Array(4).fill('deny:token_revoked'));

    // The family's current refresh token, held by the legitimate client, is dead too.
    const current = await token(b, {
      grant_type: 'refresh_token',
      refresh_token: second.refresh_token!,
    });
    expect(current.error).toBe('invalid_grant');

    // Refresh tokens are hashed at rest: no byte stored under the prefix holds one in clear.
    const stored = await dump(PREFIX);
    expect(stored).toContain('reuse_detected'); // the dump did read the family's record
    for (const secret of [first.refresh_token!, second.refresh_token!]) {
      expect(stored).not.toContain(secret.slice('twr_live_'.length));
    }
  }, 60_000);
});
