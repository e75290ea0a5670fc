import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { verifyChains, type AuditEvent } from '@tokenwarden/core/internal';
import { StreamingChainCheck } from '@tokenwarden/core/reports';
import {
  AuditStreamReader,
  producerAuditKeys,
  producerTag,
  RedisAuditSource,
  RedisStreamSink,
} from '@tokenwarden/redis';
import { keySlot } from '../../packages/redis/src/keys';
import { chainedEvents } from '@tokenwarden/testing';
import { masterOfSlot, startCluster, type TestCluster } from './cluster-rig';

/**
 * `RedisStreamSink` with `streams: 'per-producer'` on a three-master Redis Cluster started here:
 * two producers' streams land on different masters, the stream every producer shared before
 * stays readable, and reading as `audit verify` does (every stream, every head) sees all three
 * chains intact.
 */

const PREFIX = 'audit-streams:';
let cluster: TestCluster;

beforeAll(async () => {
  cluster = await startCluster(3);
}, 90_000);

afterAll(async () => {
  await cluster?.stop();
});

/** Two producer ids whose streams live on different masters. */
async function producersApart(): Promise<[string, string, number, number]> {
  const first = 'node-a';
  const firstMaster = await masterOfSlot(
    cluster,
    keySlot(producerAuditKeys(PREFIX, producerTag(first)).stream),
  );
  for (let i = 0; ; i += 1) {
    const other = `node-b${i}`;
    const master = await masterOfSlot(
      cluster,
      keySlot(producerAuditKeys(PREFIX, producerTag(other)).stream),
    );
    if (master !== firstMaster) return [first, other, firstMaster, master];
  }
}

describe('audit streams per producer on a three-master Cluster', () => {
  it('writes each producer to its own stream on its own master, and readers see every stream', async () => {
    const [a, b, masterA, masterB] = await producersApart();
    // Events an earlier version wrote to the one shared stream.
    const legacy = new RedisStreamSink({ client: cluster.client, prefix: PREFIX });
    const old = chainedEvents('node-old', 1, 5);
    await legacy.write(old);
    await legacy.close();

    const sink = new RedisStreamSink({
      client: cluster.client,
      prefix: PREFIX,
      streams: 'per-producer',
    });
    const eventsA = chainedEvents(a, 1, 120);
    const eventsB = chainedEvents(b, 1, 80);
    // Interleaved batches, as two nodes' trails reach one sink process.
    await sink.write([...eventsA.slice(0, 60), ...eventsB.slice(0, 40)]);
    await sink.write([...eventsB.slice(40), ...eventsA.slice(60)]);
    await sink.close();

    // Each stream is on the master serving its slot, and the two masters differ.
    expect(masterA).not.toBe(masterB);
    for (const [producer, master, count] of [
      [a, masterA, 120],
      [b, masterB, 80],
    ] as const) {
      const { stream } = producerAuditKeys(PREFIX, producerTag(producer));
      const node = cluster.nodes.find((n) => n.port === master)!;
      expect(Number(await node.command('EXISTS', stream))).toBe(1);
      expect(await cluster.client.xlen(stream)).toBeGreaterThan(0);
      // Every event of the producer is in its own stream, none in the shared one.
      const reader = new AuditStreamReader({ client: cluster.client, prefix: PREFIX });
      const seen: AuditEvent[] = [];
      for await (const { event } of reader.range())
        if (event?.producer === producer) seen.push(event);
      expect(seen.map((e) => e.seq)).toEqual(Array.from({ length: count }, (_, i) => i + 1));
      await reader.close();
    }

    // Read as `audit verify` reads: every stream, merged by entry id, checked against every head.
    const reader = new AuditStreamReader({ client: cluster.client, prefix: PREFIX });
    const events: AuditEvent[] = [];
    let lastEntry = [0, 0];
    for await (const { entryId, event } of reader.range({ pageSize: 1 })) {
      const [ms = 0, n = 0] = entryId.split('-').map(Number);
      // Merged in entry-id order over the streams.
      expect(ms > lastEntry[0]! || (ms === lastEntry[0] && n >= lastEntry[1]!)).toBe(true);
      lastEntry = [ms, n];
      if (event) events.push(event);
    }
    expect(events).toHaveLength(205);
    const heads = await reader.heads();
    expect(heads.map((h) => [h.producer, h.seq]).sort()).toEqual(
      [
        [a, 120],
        [b, 80],
        ['node-old', 5],
      ].sort(),
    );
    const reports = verifyChains(events, { heads });
    expect(reports.map((r) => [r.producer, r.intact, r.events]).sort()).toEqual(
      [
        [a, true, 120],
        [b, true, 80],
        ['node-old', true, 5],
      ].sort(),
    );
    expect((await reader.info()).length).toBeGreaterThanOrEqual(3);
    await reader.close();

    // The reports' and `state restore`'s source reads them all too.
    const source = new RedisAuditSource({ connection: { client: cluster.client, prefix: PREFIX } });
    const check = new StreamingChainCheck(undefined);
    let read = 0;
    for await (const event of source.read()) {
      check.add(event);
      read += 1;
    }
    await source.close();
    expect(read).toBe(205);
    expect(check.verdict().verified).toBe(true);
  });

  it('follows the streams of every producer, new ones included', async () => {
    const prefix = 'audit-follow:';
    const sink = new RedisStreamSink({ client: cluster.client, prefix, streams: 'per-producer' });
    await sink.write(chainedEvents('early', 1, 3));
    const reader = new AuditStreamReader({
      client: cluster.client,
      prefix,
      commandTimeoutMs: 2_000,
    });
    const abort = new AbortController();
    const seen: string[] = [];
    let late: Promise<void> | undefined;
    for await (const { event } of reader.follow({
      after: '0',
      blockMs: 200,
      signal: abort.signal,
    })) {
      if (event) seen.push(event.id);
      // A producer that starts writing while the reader follows: its stream is found and read.
      if (seen.length === 3) late = sink.write(chainedEvents('late', 1, 3));
      if (seen.length === 6) abort.abort();
    }
    await late;
    await Promise.all([sink.close(), reader.close()]);
    expect(seen.sort()).toEqual(['early/1', 'early/2', 'early/3', 'late/1', 'late/2', 'late/3']);
  }, 20_000);
});
