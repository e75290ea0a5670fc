import { afterEach, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { Agent, request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testAppToken } from './kill-shared';

/**
 * The application itself crashes: an Express app with the audit trail at its defaults (a
 * JSON-lines file sink, a spool directory) serves steady keep-alive traffic and is killed with
 * SIGKILL in the middle of it. Then every request the client saw answered (a complete 200) is
 * looked up, by request id, among the events in the audit file and the spool. `sync` must have
 * every one of them; `async` may lose only the events still in memory: at most `maxQueue`
 * (10,000), in practice the last few tens of milliseconds of traffic. docs/audit.md quotes the
 * counts this test prints.
 */

const ROOT = join(__dirname, '..', '..');
const WORKERS = 16;
/** How long the load runs before the kill, in ms. */
const LOAD_MS = 1_500;
/** `audit.maxQueue`'s default: the most events async mode holds in memory. */
const MAX_QUEUE = 10_000;
/** A run takes a few seconds (the app starts under tsx); room for a slower machine. */
const TIMEOUT_MS = 60_000;

const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true });
});

function token(secret: Buffer): string {
  return testAppToken(secret, 'kill-client');
}

/** Starts the app in `mode`; resolves its port once it listens. */
function startApp(mode: 'async' | 'sync', dir: string, secret: Buffer) {
  // Node itself with tsx's loader, so the process killed is the app (not a wrapper around it).
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'kill-app.ts')], {
    cwd: ROOT,
    env: { ...process.env, KILL_MODE: mode, KILL_DIR: dir, KILL_SECRET: secret.toString('hex') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  const exited = new Promise<NodeJS.Signals | number | null>((resolve) =>
    child.on('exit', (code, signal) => resolve(signal ?? code)),
  );
  const port = new Promise<number>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`the app did not start: ${err}`)), 30_000);
    child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
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
  return { child, port, exited };
}

/** Keep-alive load from `WORKERS` loops; records when each answered request completed. */
function load(port: number, bearer: string) {
  const agent = new Agent({ keepAlive: true, maxSockets: WORKERS });
  const answered = new Map<string, number>();
  let running = true;
  const one = (id: string) =>
    new Promise<boolean>((resolve) => {
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
          res.on('end', () => resolve(res.statusCode === 200 && res.complete));
          res.on('error', () => resolve(false));
        },
      );
      req.on('error', () => resolve(false));
      req.end();
    });
  const loops = Array.from({ length: WORKERS }, async (_, w) => {
    for (let n = 0; running; n++) {
      const id = `k-${w}-${n}`;
      if (await one(id)) answered.set(id, performance.now());
    }
  });
  return {
    answered,
    async stop() {
      running = false;
      await Promise.all(loops);
      agent.destroy();
    },
  };
}

/** Request ids of the access events in the audit file and the spool (a cut last line skipped). */
async function recordedIds(dir: string): Promise<Set<string>> {
  const files = [join(dir, 'audit.jsonl')];
  const spool = await readdir(join(dir, 'spool')).catch(() => [] as string[]);
  for (const name of spool) if (name.endsWith('.spool')) files.push(join(dir, 'spool', name));
  const ids = new Set<string>();
  for (const file of files) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let event: { type?: string; requestId?: string };
      try {
        event = JSON.parse(line) as typeof event;
      } catch {
        continue;
      }
      if (event.type === 'access.decision' && event.requestId !== undefined) {
        ids.add(event.requestId);
      }
    }
  }
  return ids;
}

async function killUnderLoad(mode: 'async' | 'sync') {
  const dir = await mkdtemp(join(tmpdir(), `tokenwarden-kill-${mode}-`));
  dirs.push(dir);
  const secret = randomBytes(32);
  const app = startApp(mode, dir, secret);
  const traffic = load(await app.port, token(secret));
  await new Promise((resolve) => setTimeout(resolve, LOAD_MS));
  app.child.kill('SIGKILL');
  const killedAt = performance.now();
  const how = await app.exited;
  await traffic.stop();
  const recorded = await recordedIds(dir);
  const lostAges: number[] = [];
  for (const [id, at] of traffic.answered) if (!recorded.has(id)) lostAges.push(killedAt - at);
  const answered = traffic.answered.size;
  const lastMs = (ms: number) =>
    [...traffic.answered.values()].filter((at) => killedAt - at <= ms).length;
  const figures = {
    mode,
    how,
    answered,
    lost: lostAges.length,
    oldestLostMs: lostAges.length === 0 ? 0 : Math.round(Math.max(...lostAges)),
    answeredInLast50Ms: lastMs(50),
    answeredInLast100Ms: lastMs(100),
  };
  console.log(`kill test: ${JSON.stringify(figures)}`);
  return figures;
}

describe('audit trail: the application killed with SIGKILL under load', () => {
  it(
    'sync: loses nothing that was answered',
    async () => {
      const figures = await killUnderLoad('sync');
      expect(figures.how).toBe('SIGKILL');
      expect(figures.answered).toBeGreaterThan(500);
      expect(figures.lost).toBe(0);
    },
    TIMEOUT_MS,
  );

  it(
    'async: loses only the newest events, at most maxQueue',
    async () => {
      const figures = await killUnderLoad('async');
      expect(figures.how).toBe('SIGKILL');
      expect(figures.answered).toBeGreaterThan(500);
      expect(figures.lost).toBeLessThanOrEqual(MAX_QUEUE);
      // Only events of the last moments were still in memory: a batch leaves 50 ms
      // (flushIntervalMs) after its first event; older ones had reached the file.
      expect(figures.oldestLostMs).toBeLessThan(1_000);
    },
    TIMEOUT_MS,
  );
});
