import { Cluster } from 'ioredis';
import { RedisServer, runProcess } from '@tokenwarden/testing';
import { sleep } from './rig';

/** A Redis Cluster of redis-server processes on free ports, and its client. */
export interface TestCluster {
  readonly nodes: readonly RedisServer[];
  readonly client: Cluster;
  /** Disconnects the client and stops every node (by its own pid). */
  stop(): Promise<void>;
}

/** Options of {@link startCluster}. */
export interface ClusterOptions {
  /** The client's command timeout, in ms. Default: 2000. */
  readonly commandTimeoutMs?: number;
  /** More `redis-server` arguments for every node (e.g. AOF settings). Default: none. */
  readonly nodeArgs?: readonly string[];
}

/**
 * Starts `masters` masters (with `replicas` replicas each), waits until the cluster answers
 * `cluster_state:ok` on every node and every replica is linked to its master, and connects a
 * fail-fast ioredis `Cluster`.
 */
export async function startCluster(
  masters: number,
  replicas = 0,
  options: ClusterOptions = {},
): Promise<TestCluster> {
  const nodes: RedisServer[] = [];
  let client: Cluster | undefined;
  const stop = async () => {
    client?.disconnect();
    await Promise.all(nodes.map((n) => n.dispose()));
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      nodes.push(
        await RedisServer.start({
          args: [
            '--cluster-enabled',
            'yes',
            '--cluster-config-file',
            'nodes.conf',
            '--cluster-node-timeout',
            '1000',
            '--cluster-announce-ip',
            '127.0.0.1',
            ...(options.nodeArgs ?? []),
          ],
        }),
      );
    }
    const created = await runProcess(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...nodes.map((n) => `127.0.0.1:${n.port}`),
        '--cluster-replicas',
        String(replicas),
        '--cluster-yes',
      ],
      { cwd: process.cwd(), timeoutMs: 60_000 },
    );
    if (created.code !== 0) throw new Error(`cluster create failed:\n${created.stdout}`);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const infos = await Promise.all(nodes.map((n) => n.command('CLUSTER', 'INFO')));
      if (infos.every((i) => String(i).includes('cluster_state:ok'))) break;
      if (Date.now() > deadline) throw new Error('cluster not ok in 30 s');
      await sleep(100);
    }
    // Every replica linked before the first write a test may want replicated.
    for (const node of nodes) {
      while ((await node.info('replication'))['role'] === 'slave') {
        if ((await node.info('replication'))['master_link_status'] === 'up') break;
        if (Date.now() > deadline) throw new Error('replicas not linked in 30 s');
        await sleep(100);
      }
    }
    client = new Cluster([{ host: '127.0.0.1', port: nodes[0]!.port }], {
      enableOfflineQueue: false,
      redisOptions: { commandTimeout: options.commandTimeoutMs ?? 2_000, maxRetriesPerRequest: 1 },
      clusterRetryStrategy: (times) => Math.min(100 * times, 1_000),
    });
    client.on('error', () => undefined);
    await new Promise<void>((resolve) => client!.once('ready', () => resolve()));
    return { nodes, client, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** The port of the master serving `slot`, from CLUSTER SLOTS. */
export async function masterOfSlot(cluster: TestCluster, slot: number): Promise<number> {
  const ranges = (await cluster.nodes[0]!.command('CLUSTER', 'SLOTS')) as unknown as [
    number,
    number,
    [string, number, ...unknown[]],
  ][];
  const range = ranges.find(([from, to]) => slot >= from && slot <= to);
  if (range === undefined) throw new Error(`slot ${slot} is not served`);
  return range[2][1];
}
