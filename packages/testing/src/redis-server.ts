import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Options of {@link RedisServer.start}. */
export interface RedisServerOptions {
  /** TCP port on 127.0.0.1. Default: a free port picked by the OS. */
  readonly port?: number;
  /** Extra `redis-server` arguments, e.g. `['--replicaof', '127.0.0.1', '6390']`. Default: none. */
  readonly args?: readonly string[];
  /**
   * Start a one-node Redis Cluster that owns all 16384 slots, so tests see real cluster rules
   * (`CROSSSLOT`, `MOVED`) without six processes. Default: false.
   */
  readonly cluster?: boolean;
  /**
   * Password to set (`--requirepass`); {@link RedisServer.command} then authenticates first.
   * Default: none.
   */
  readonly password?: string;
  /** How long to wait for the server to answer PING, in ms. Default: 10000. */
  readonly startTimeoutMs?: number;
  /** The server binary. Default: `$REDIS_SERVER_BIN`, else `redis-server` from PATH. */
  readonly binary?: string;
}

/** A reply decoded from RESP2; error replies inside arrays are `Error` values. */
export type RespReply = string | number | null | Error | RespReply[];

/** Servers still running, killed if the test process exits without stopping them. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

/**
 * A throwaway `redis-server` child process on 127.0.0.1: no persistence, its own temporary
 * directory, stopped and restarted on the same port by the test. For failure tests (Redis stopped,
 * paused, frozen, read-only replica) that must never touch a shared server.
 *
 * @example
 * const server = await RedisServer.start();
 * const store = new RedisStore({ url: server.url });
 * await server.kill();     // lookups now reject with StoreUnavailableError
 * await server.start();    // same port, empty data
 * await server.dispose();
 */
export class RedisServer {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private output = '';

  private constructor(
    /** The TCP port the server listens on (127.0.0.1). */
    readonly port: number,
    private readonly dir: string,
    private readonly options: RedisServerOptions,
  ) {}

  /** Starts a server and resolves once it answers PING (and, for a cluster, has all slots). */
  static async start(options: RedisServerOptions = {}): Promise<RedisServer> {
    const dir = await mkdtemp(join(tmpdir(), 'tokenwarden-redis-'));
    for (let attempt = 1; ; attempt += 1) {
      const server = new RedisServer(options.port ?? (await freePort()), dir, options);
      try {
        await server.start();
        return server;
      } catch (err) {
        await server.stop('SIGKILL');
        // A port picked by the OS can be taken again before redis-server binds it: retry.
        const portTaken = server.log.includes('Address already in use');
        if (options.port !== undefined || attempt >= 5 || !portTaken) {
          await rm(dir, { recursive: true, force: true });
          throw err;
        }
      }
    }
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The process id while the server runs, else `undefined`. */
  get pid(): number | undefined {
    return this.isRunning ? this.child?.pid : undefined;
  }

  /** True while the process has not exited. */
  get isRunning(): boolean {
    return (
      this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null
    );
  }

  /**
   * (Re)starts the process on the same port and waits until it answers PING. Data does not
   * survive a restart (no persistence); a cluster node keeps its slots. No-op while running.
   */
  async start(): Promise<void> {
    if (this.isRunning) return;
    const cluster = this.options.cluster ?? false;
    const argv = [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
      '--dir',
      this.dir,
      // A lone node does not know its own address; announce it, or CLUSTER SLOTS names host ''.
      ...(cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', 'nodes.conf'] : []),
      ...(cluster ? ['--cluster-announce-ip', '127.0.0.1'] : []),
      ...(this.options.password === undefined ? [] : ['--requirepass', this.options.password]),
      ...(this.options.args ?? []),
    ];
    const binary = this.options.binary ?? process.env['REDIS_SERVER_BIN'] ?? 'redis-server';
    this.output = '';
    const child = spawn(binary, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    running.add(child);
    installExitHook();
    const remember = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-4000);
    };
    child.stdout?.on('data', remember);
    child.stderr?.on('data', remember);
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', () => {
        running.delete(child);
        resolve();
      });
      child.once('error', (err) => {
        running.delete(child);
        this.output += `\n${err.message}`;
        resolve();
      });
    });

    const deadline = Date.now() + (this.options.startTimeoutMs ?? 10_000);
    // Any reply counts as "up": a replica without its primary answers PING with MASTERDOWN.
    await this.waitFor(deadline, async () => {
      await sendCommands(this.port, [['PING']]);
      return true;
    });
    if (cluster) {
      const clusterInfo = async () => parseInfo(await this.command('CLUSTER', 'INFO'));
      if ((await clusterInfo())['cluster_slots_assigned'] === '0') {
        await this.command('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
      }
      await this.waitFor(deadline, async () => (await clusterInfo())['cluster_state'] === 'ok');
    }
  }

  /** Stops the process with `signal` (default SIGTERM, then SIGKILL after 5 s) and waits for it. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === undefined || !this.isRunning) return this.exited;
    child.kill('SIGCONT'); // a frozen server must run to handle SIGTERM
    child.kill(signal);
    const escalate = setTimeout(() => child.kill('SIGKILL'), 5_000);
    try {
      await this.exited;
    } finally {
      clearTimeout(escalate);
    }
  }

  /** Kills the process at once (SIGKILL), as a crash would, and waits for it to exit. */
  kill(): Promise<void> {
    return this.stop('SIGKILL');
  }

  /** Stops and starts the process on the same port. */
  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** Suspends the process (SIGSTOP): connections stay open but nothing is answered. */
  freeze(): void {
    if (this.isRunning) this.child?.kill('SIGSTOP');
  }

  /** Resumes a frozen process (SIGCONT). */
  thaw(): void {
    if (this.isRunning) this.child?.kill('SIGCONT');
  }

  /** Stops the process and removes its temporary directory. Idempotent. */
  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    await rm(this.dir, { recursive: true, force: true });
  }

  /**
   * Sends one command on a fresh connection and resolves with the decoded reply; an error reply
   * rejects. For test set-up (CLIENT PAUSE, INFO, KEYS), not for the code under test.
   */
  async command(...args: string[]): Promise<RespReply> {
    const password = this.options.password;
    const replies = await sendCommands(
      this.port,
      password === undefined ? [args] : [['AUTH', password], args],
    );
    for (const reply of replies) if (reply instanceof Error) throw reply;
    return replies[replies.length - 1] ?? null;
  }

  /** `INFO <section>` as a field → value map. */
  async info(section: string): Promise<Record<string, string>> {
    return parseInfo(await this.command('INFO', section));
  }

  /** The last few KB the process printed, for failure messages. */
  get log(): string {
    return this.output;
  }

  private async waitFor(deadline: number, ready: () => Promise<boolean>): Promise<void> {
    let lastError: unknown;
    while (Date.now() < deadline) {
      if (!this.isRunning) {
        await this.exited;
        throw new Error(`redis-server on port ${this.port} exited during start:\n${this.output}`);
      }
      try {
        if (await ready()) return;
      } catch (err) {
        lastError = err;
      }
      await sleep(20);
    }
    throw new Error(`redis-server on port ${this.port} not ready in time:\n${this.output}`, {
      cause: lastError,
    });
  }
}

/** Parses `field:value` lines (INFO, CLUSTER INFO) into a map. */
function parseInfo(text: RespReply): Record<string, string> {
  if (typeof text !== 'string') throw new Error('INFO gave a non-string reply');
  const fields: Record<string, string> = {};
  for (const line of text.split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1);
  }
  return fields;
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

/** Asks the OS for a free port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}

/**
 * Sends RESP2 commands to 127.0.0.1:`port` on one new connection and resolves with their replies
 * in order (an error reply is an `Error` value). Rejects on connection failure or after
 * `timeoutMs`.
 */
export function sendCommands(
  port: number,
  commands: readonly (readonly string[])[],
  timeoutMs = 2_000,
): Promise<RespReply[]> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let buffer = Buffer.alloc(0);
    let settled = false;
    const finish = (err: Error | undefined, replies?: RespReply[]) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(replies ?? []);
    };
    const timer = setTimeout(() => finish(new Error(`no reply from port ${port}`)), timeoutMs);
    socket.once('error', (err) => finish(err));
    socket.once('close', () => finish(new Error(`connection to port ${port} closed`)));
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      try {
        const replies: RespReply[] = [];
        let at = 0;
        while (replies.length < commands.length) {
          const parsed = parseReply(buffer, at);
          if (parsed === undefined) return;
          replies.push(parsed.value);
          at = parsed.next;
        }
        finish(undefined, replies);
      } catch (err) {
        finish(err instanceof Error ? err : new Error(String(err)));
      }
    });
    const parts: string[] = [];
    for (const args of commands) {
      parts.push(`*${args.length}\r\n`);
      for (const arg of args) parts.push(`$${Buffer.byteLength(arg)}\r\n${arg}\r\n`);
    }
    socket.write(parts.join(''));
  });
}

/** Decodes one RESP2 reply at `offset`; `undefined` while the reply is incomplete. */
function parseReply(buf: Buffer, offset: number): { value: RespReply; next: number } | undefined {
  const end = buf.indexOf('\r\n', offset);
  if (end < 0) return undefined;
  const type = String.fromCharCode(buf[offset] ?? 0);
  const line = buf.toString('utf8', offset + 1, end);
  const next = end + 2;
  switch (type) {
    case '+':
      return { value: line, next };
    case '-':
      return { value: new Error(line), next };
    case ':':
      return { value: Number(line), next };
    case '$': {
      const length = Number(line);
      if (length < 0) return { value: null, next };
      if (buf.length < next + length + 2) return undefined;
      return { value: buf.toString('utf8', next, next + length), next: next + length + 2 };
    }
    case '*': {
      const count = Number(line);
      if (count < 0) return { value: null, next };
      const items: RespReply[] = [];
      let at = next;
      for (let i = 0; i < count; i += 1) {
        const item = parseReply(buf, at);
        if (item === undefined) return undefined;
        items.push(item.value);
        at = item.next;
      }
      return { value: items, next: at };
    }
    default:
      throw new Error(`unexpected RESP type byte ${JSON.stringify(type)}`);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Deletes every key under `prefix` on 127.0.0.1:`port` with SCAN and UNLINK: the clean-up for tests
 * on a shared server, which is never flushed. The prefix must hold no glob characters.
 */
export async function deleteKeys(port: number, prefix: string): Promise<number> {
  let cursor = '0';
  let deleted = 0;
  do {
    const [reply] = await sendCommands(port, [
      ['SCAN', cursor, 'MATCH', `${prefix}*`, 'COUNT', '1000'],
    ]);
    if (!Array.isArray(reply) || typeof reply[0] !== 'string' || !Array.isArray(reply[1])) {
      throw new Error('unexpected SCAN reply');
    }
    cursor = reply[0];
    const keys = reply[1].filter((k): k is string => typeof k === 'string');
    if (keys.length > 0) {
      const [count] = await sendCommands(port, [['UNLINK', ...keys]]);
      deleted += typeof count === 'number' ? count : 0;
    }
  } while (cursor !== '0');
  return deleted;
}
