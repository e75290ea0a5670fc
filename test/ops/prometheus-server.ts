import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@tokenwarden/testing';
import { requireBinary } from './support';

/** Options of {@link PrometheusServer.start}. */
export interface PrometheusServerOptions {
  /** `host:port` targets of the `tokenwarden` scrape job. */
  readonly targets: readonly string[];
  /** Rule files to load (absolute paths). Default: none. */
  readonly ruleFiles?: readonly string[];
  /** Scrape and rule evaluation interval. Default: `'1s'`. */
  readonly interval?: string;
}

/** One result of an instant query: the series' labels and its value. */
export interface QueryResult {
  readonly metric: Record<string, string>;
  readonly value: number;
}

/**
 * A real `prometheus` server on a free port of 127.0.0.1, with its configuration and storage in a
 * temporary directory; {@link PrometheusServer.stop} kills it by pid and removes the directory.
 */
export class PrometheusServer {
  private output = '';

  private constructor(
    private readonly child: ChildProcess,
    private readonly dir: string,
    /** `http://127.0.0.1:<port>`. */
    readonly url: string,
  ) {
    const keep = (chunk: Buffer) => {
      this.output = (this.output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  static async start(options: PrometheusServerOptions): Promise<PrometheusServer> {
    const binary = requireBinary('prometheus');
    const dir = await mkdtemp(join(tmpdir(), 'tokenwarden-prometheus-'));
    const interval = options.interval ?? '1s';
    const config = [
      'global:',
      `  scrape_interval: ${interval}`,
      `  evaluation_interval: ${interval}`,
      'rule_files:',
      ...(options.ruleFiles ?? []).map((f) => `  - ${JSON.stringify(f)}`),
      'scrape_configs:',
      '  - job_name: tokenwarden',
      '    static_configs:',
      `      - targets: [${options.targets.map((t) => JSON.stringify(t)).join(', ')}]`,
    ];
    if (!options.ruleFiles?.length) config.splice(3, 1);
    await writeFile(join(dir, 'prometheus.yml'), config.join('\n') + '\n');
    for (let attempt = 1; ; attempt += 1) {
      const port = await freePort();
      const child = spawn(
        binary,
        [
          `--config.file=${join(dir, 'prometheus.yml')}`,
          `--storage.tsdb.path=${join(dir, `data-${attempt}`)}`,
          `--web.listen-address=127.0.0.1:${port}`,
          '--storage.tsdb.retention.time=1h',
        ],
        { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] },
      );
      const server = new PrometheusServer(child, dir, `http://127.0.0.1:${port}`);
      try {
        await server.waitFor(
          'ready',
          async () => (await fetch(`${server.url}/-/ready`)).ok,
          20_000,
        );
        return server;
      } catch (error) {
        await server.kill();
        // A port picked by the OS can be taken again before prometheus binds it: retry.
        if (attempt >= 3 || !server.log.includes('address already in use')) {
          await rm(dir, { recursive: true, force: true });
          throw error;
        }
      }
    }
  }

  /** What the server printed last (for failure messages). */
  get log(): string {
    return this.output;
  }

  /** Runs an instant query; throws on a query error. */
  async query(expr: string): Promise<QueryResult[]> {
    const response = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await response.json()) as {
      status: string;
      error?: string;
      data?: {
        resultType: string;
        result: { metric: Record<string, string>; value: [number, string] }[];
      };
    };
    if (body.status !== 'success' || !body.data) {
      throw new Error(`query ${expr} failed: ${body.error ?? response.status}`);
    }
    if (body.data.resultType !== 'vector') return [];
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  }

  /** The server's rule groups, as /api/v1/rules reports them. */
  async rules(): Promise<
    { name: string; rules: { name: string; health: string; lastError?: string }[] }[]
  > {
    const response = await fetch(`${this.url}/api/v1/rules`);
    const body = (await response.json()) as {
      data: {
        groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[];
      };
    };
    return body.data.groups;
  }

  /** Polls `check` every 200 ms until it returns true; throws after `timeoutMs`. */
  async waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) {
        throw new Error(
          `prometheus exited (${this.child.exitCode}) waiting for ${what}:\n${this.log}`,
        );
      }
      try {
        if (await check()) return;
      } catch (error) {
        last = error;
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(
      `prometheus: no ${what} within ${timeoutMs} ms (${String(last)}):\n${this.log}`,
    );
  }

  /** Stops the server by its pid and removes its directory. */
  async stop(): Promise<void> {
    await this.kill();
    await rm(this.dir, { recursive: true, force: true });
  }

  /** Stops the server by its pid (SIGTERM, then SIGKILL after 5 s). */
  private async kill(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((resolve) => this.child.once('exit', resolve));
      this.child.kill('SIGTERM');
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
  }
}
