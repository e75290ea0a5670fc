import { connect, createServer, type Server, type Socket } from 'node:net';

/** Options of {@link TcpProxy.start}. */
export interface TcpProxyOptions {
  /** Port the proxy forwards to, on `targetHost`. */
  readonly targetPort: number;
  /** Host the proxy forwards to. Default: `'127.0.0.1'`. */
  readonly targetHost?: string;
  /** Port the proxy listens on (127.0.0.1). Default: a free port picked by the OS. */
  readonly port?: number;
  /** Delay added to every chunk, in each direction, in ms. Default: 0. */
  readonly latencyMs?: number;
}

/**
 * A TCP proxy on 127.0.0.1 for fault tests: it forwards every connection to a target port and
 * can add latency to each chunk (a slow network or server), pause (hold every byte, as a frozen
 * network path would, while connections stay open), or cut every connection at once. Order of
 * bytes on a connection is always kept.
 *
 * @example
 * const proxy = await TcpProxy.start({ targetPort: server.port, latencyMs: 50 });
 * const store = new RedisStore({ url: proxy.url });
 * proxy.latencyMs = 500;   // every reply now arrives after the store's deadline
 * proxy.pause();           // nothing goes through until resume()
 * await proxy.close();
 */
export class TcpProxy {
  /** Delay added to every chunk, in ms; may be changed at any time (applies to later chunks). */
  latencyMs: number;
  private paused = false;
  private target = { host: '127.0.0.1', port: 0 };
  private readonly held: (() => void)[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    /** The port the proxy listens on (127.0.0.1). */
    readonly port: number,
    latencyMs: number,
  ) {
    this.latencyMs = latencyMs;
  }

  /** Starts listening and resolves once the proxy accepts connections. */
  static async start(options: TcpProxyOptions): Promise<TcpProxy> {
    const host = options.targetHost ?? '127.0.0.1';
    const ref: { proxy?: TcpProxy } = {};
    const server = createServer((client) => ref.proxy?.accept(client));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, '127.0.0.1', () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address !== 'object') throw new Error('proxy has no port');
    ref.proxy = new TcpProxy(server, address.port, options.latencyMs ?? 0);
    ref.proxy.retarget(options.targetPort, host);
    return ref.proxy;
  }

  /** `redis://127.0.0.1:<port>`: the proxy's address as a Redis URL. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Connections currently open through the proxy (client and target sides count once each). */
  get connections(): number {
    return this.sockets.size / 2;
  }

  /** Holds every chunk in both directions until {@link TcpProxy.resume}; connections stay open. */
  pause(): void {
    this.paused = true;
  }

  /** Lets held and new chunks through again, in their original order. */
  resume(): void {
    this.paused = false;
    for (const release of this.held.splice(0)) release();
  }

  /**
   * Sends new connections to another port (a virtual IP moving to a promoted replica); open
   * connections stay where they are until {@link TcpProxy.cut}.
   */
  retarget(port: number, host = '127.0.0.1'): void {
    this.target = { host, port };
  }

  /** Destroys every open connection at once (both sides), as a network cut would. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
  }

  /** Stops listening and destroys every connection. */
  async close(): Promise<void> {
    this.cut();
    this.held.length = 0;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket): void {
    const target = connect(this.target);
    this.track(client);
    this.track(target);
    this.pipe(client, target);
    this.pipe(target, client);
    client.once('close', () => target.destroy());
    target.once('close', () => client.destroy());
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => socket.destroy());
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Forwards `from` to `to`, each chunk `latencyMs` after it arrived, never reordering. */
  private pipe(from: Socket, to: Socket): void {
    let last = Promise.resolve();
    from.on('data', (chunk: Buffer) => {
      const due = performance.now() + this.latencyMs;
      last = last.then(async () => {
        const wait = due - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
        if (this.paused) await new Promise<void>((resolve) => this.held.push(resolve));
        if (!to.destroyed) to.write(chunk);
      });
    });
  }
}
