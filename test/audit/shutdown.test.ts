import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testAppToken } from './kill-shared';

/**
 * SIGTERM right after a few requests: an Express app with `gracefulShutdown` and an audit flush
 * interval far longer than the test, so the events are still in memory when the signal comes.
 * Every answered request must be in the JSON-lines audit file, and the process must exit by
 * itself, with code 0.
 */

const ROOT = join(__dirname, '..', '..');
const TIMEOUT_MS = 60_000;

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

function token(secret: Buffer): string {
  return testAppToken(secret, 'shutdown-client');
}

function get(port: number, agent: Agent, bearer: string, id: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        path: '/data',
        agent,
        headers: { authorization: `Bearer ${bearer}`, 'x-request-id': id },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('gracefulShutdown: SIGTERM right after five requests', () => {
  it(
    'records all five access events and exits with code 0',
    async () => {
      const dir = await mkdtemp(join(tmpdir(), 'tokenwarden-shutdown-'));
      dirs.push(dir);
      const secret = randomBytes(32);
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(__dirname, 'shutdown-app.ts')],
        {
          cwd: ROOT,
          env: { ...process.env, SHUTDOWN_DIR: dir, SHUTDOWN_SECRET: secret.toString('hex') },
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      );
      children.push(child);
      const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
        child.on('exit', (code, signal) => resolve(signal ?? code)),
      );
      let err = '';
      child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        const timer = setTimeout(() => reject(new Error(`the app did not start: ${err}`)), 30_000);
        child.stdout!.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const found = /READY (\d+)/.exec(out)?.[1];
          if (found) {
            clearTimeout(timer);
            resolve(Number(found));
          }
        });
        void exited.then(() => reject(new Error(`the app exited before it was ready: ${err}`)));
      });
      // Keep-alive, as a load balancer would: the shutdown must close idle connections itself.
      const agent = new Agent({ keepAlive: true, maxSockets: 2 });
      const bearer = token(secret);
      const ids = ['s-1', 's-2', 's-3', 's-4', 's-5'];
      const statuses = await Promise.all(ids.map((id) => get(port, agent, bearer, id)));
      expect(statuses).toEqual([200, 200, 200, 200, 200]);
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      agent.destroy();
      const text = await readFile(join(dir, 'audit.jsonl'), 'utf8');
      const recorded = text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as { type?: string; requestId?: string })
        .filter((event) => event.type === 'access.decision')
        .map((event) => event.requestId)
        .sort();
      expect(recorded).toEqual(ids);
      expect(err).toBe('');
    },
    TIMEOUT_MS,
  );
});
