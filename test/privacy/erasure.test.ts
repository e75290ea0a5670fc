/**
 * The right to erasure against a real trail: 100,000 events over a JSON-lines file, a file spool
 * and the Redis audit stream, sealed per data subject. `tokenwarden erase` must leave the chains
 * verifying, the person's identifier nowhere (files, every Redis key's DUMP and content), the
 * access report of another person unchanged, and the erased person's events still counted.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { runCli, type CliIo } from '@tokenwarden/cli';
import {
  createAdmin,
  JsonLinesSink,
  masterKey,
  MemoryStore,
  parseAuditLine,
  SubjectOpener,
  verifyChains,
  type AuditEvent,
  type AuditEventInput,
  type AuditSink,
} from '@tokenwarden/core/internal';
import { accessReport, exposureReport, JsonLinesSource } from '@tokenwarden/core/reports';
import { RedisStore, RedisStreamSink, RedisSubjectKeyStore } from '@tokenwarden/redis';
import Redis from 'ioredis';
import { PassThrough } from 'node:stream';

const URL = 'redis://127.0.0.1:6379';
const PREFIX = `tw-erase-${process.pid}-${Date.now().toString(36)}:`;
const TARGET = 'target.person@example.com';
const OTHER = 'other.person@example.com';
const EVENTS = 100_000;
/** Events of the node that writes JSON lines; the others go to the Redis stream. */
const FILE_EVENTS = 50_000;
/** Events written while the stream is down: they wait in the stream's spool. */
const SPOOLED = EVENTS / 5;

/** A sink that can be switched off (its events then go to the spool). */
class Switchable implements AuditSink {
  down = false;
  constructor(
    private readonly inner: AuditSink,
    readonly name: string,
  ) {}
  write(events: readonly AuditEvent[]): Promise<void> {
    return this.down ? Promise.reject(new Error('stream down')) : this.inner.write(events);
  }
  close(): Promise<void> {
    return this.inner.close?.() ?? Promise.resolve();
  }
}

async function cli(argv: readonly string[], env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (c: Buffer) => (out += c.toString()));
  stderr.on('data', (c: Buffer) => (err += c.toString()));
  const io: CliIo = { stdout, stderr, env };
  const code = await runCli(argv, io);
  return { code, out, err };
}

/** Every file under `dir`, recursively. */
async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await files(path)));
    else out.push(path);
  }
  return out;
}

/** Where each needle's bytes appear: file paths and contents, Redis key names, DUMPs, contents. */
async function whereAre(
  needles: readonly string[],
  dir: string,
  redis: Redis,
): Promise<Record<string, string[]>> {
  const found: Record<string, string[]> = Object.fromEntries(needles.map((n) => [n, []]));
  const look = (where: string, text: string | Buffer) => {
    for (const needle of needles) if (text.includes(needle)) found[needle]!.push(where);
  };
  for (const file of await files(dir)) {
    look(`file name ${file}`, file);
    look(`file ${file}`, await readFile(file));
  }
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    for (const key of keys) {
      look(`redis key name ${key}`, key);
      const dump = await redis.dumpBuffer(key);
      if (dump !== null) look(`redis DUMP ${key}`, dump);
      // A DUMP may be LZF-compressed: read the content as well.
      const type = await redis.type(key);
      let content: unknown = '';
      if (type === 'string') content = await redis.get(key);
      else if (type === 'hash') content = await redis.hgetall(key);
      else if (type === 'set') content = await redis.smembers(key);
      else if (type === 'zset') content = await redis.zrange(key, '0', '-1');
      else if (type === 'list') content = await redis.lrange(key, 0, -1);
      else if (type === 'stream') content = await redis.xrange(key, '-', '+');
      look(`redis ${type} ${key}`, JSON.stringify(content));
    }
  } while (cursor !== '0');
  return found;
}

/** What changes with every read of the trail: the header's time, events read, chain verdict. */
const HEADER = new Set(['generatedAt', 'eventsRead', 'chain', 'period', 'source']);

/** A report without its header. */
function body(report: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(report).filter(([key]) => !HEADER.has(key)));
}

describe('erasure of one data subject in a trail of 100,000 events', () => {
  let dir: string;
  let redis: Redis;
  let masterKeyFile: string;
  let chainKeyFile: string;
  let chainKey: Buffer;
  let jsonl: string;
  let spoolFile: string;
  let keys: RedisSubjectKeyStore | undefined;
  /** The data subjects the client `crm` reached with allowed uses. */
  const crmPeople = new Set<string>();
  const env = (): NodeJS.ProcessEnv => ({ REDIS_URL: URL });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'tokenwarden-erase-'));
    redis = new Redis(URL, { lazyConnect: false, maxRetriesPerRequest: 1 });
    masterKeyFile = join(dir, 'master.key');
    chainKeyFile = join(dir, 'chain.key');
    await writeFile(masterKeyFile, randomBytes(32).toString('base64url'), { mode: 0o600 });
    // The key is the bytes of its text, as `--chain-key-file` and the environment give it.
    chainKey = Buffer.from(randomBytes(32).toString('base64url'));
    await writeFile(chainKeyFile, chainKey, { mode: 0o600 });
    jsonl = join(dir, 'audit.jsonl');
    spoolFile = join(dir, 'spool', 'stream.spool');

    const master = masterKey(await readFile(masterKeyFile));
    const subjectKeys = new RedisSubjectKeyStore({ url: URL, prefix: PREFIX });
    const stream = new Switchable(new RedisStreamSink({ url: URL, prefix: PREFIX }), 'stream');
    const store = new MemoryStore();
    // Two API nodes: one writes JSON lines, the other the Redis stream (and, while the stream is
    // down, its spool). Each event is in one place only.
    const node = (producer: string, sink: AuditSink, spoolDir?: string) =>
      createAdmin({
        store,
        // The stream is down on purpose for the last events: its failures are expected.
        logger: { warn: () => undefined, error: () => undefined },
        audit: {
          sinks: [sink],
          ...(spoolDir === undefined ? {} : { spoolDir }),
          chainKey,
          producer,
          batchSize: 5_000,
          maxQueue: EVENTS + 10,
          flushIntervalMs: 5,
          retryIntervalMs: 60_000,
          subjectKeys: { store: subjectKeys, masterKey: master },
        },
      });
    const fileNode = node('api', new JsonLinesSink({ file: jsonl, name: 'file' }));
    const streamNode = node('edge', stream, join(dir, 'spool'));
    for (let i = 0; i < EVENTS; i++) {
      const toFile = i < FILE_EVENTS;
      if (i === EVENTS - SPOOLED) {
        await streamNode.flushAudit();
        stream.down = true;
      }
      const person = i % 50 === 0 ? TARGET : i % 50 === 1 ? OTHER : `person-${i % 500}@example.com`;
      const event: AuditEventInput = {
        type: 'access.decision',
        outcome: i % 17 === 0 ? 'deny' : 'allow',
        reason: i % 17 === 0 ? 'insufficient_scope' : 'authorized',
        tokenId: `jti-${i % 2_000}`,
        subject: i % 3 === 0 ? person : `agent-${i % 40}`,
        client: i % 2 === 0 ? 'crm' : 'billing',
        scopes: ['customers:read'],
        route: '/customers/:id',
        method: 'GET',
        status: i % 17 === 0 ? 403 : 200,
        dataSubject: person,
        purpose: 'support',
        lawfulBasis: 'contract',
      };
      if (toFile && event.client === 'crm' && event.outcome === 'allow') crmPeople.add(person);
      (toFile ? fileNode : streamNode).recordEvent(event);
      if (i % 10_000 === 9_999) await (toFile ? fileNode : streamNode).flushAudit();
    }
    await fileNode.close();
    await streamNode.close();
    await subjectKeys.close();
    await store.close();

    // Consent records of both people, in the Redis store.
    const consent = new RedisStore({ url: URL, prefix: PREFIX });
    for (const subject of [TARGET, OTHER]) {
      await consent.grantConsent({ subject, purpose: 'newsletter', grantedAt: Date.now() });
    }
    await consent.close();
  }, 120_000);

  afterAll(async () => {
    await keys?.close();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
    await rm(dir, { recursive: true, force: true });
  });

  it('erases the subject, keeps the chains verifying and the other reports intact', async () => {
    // The trail is where it should be: half in the file, the rest in the stream and its spool.
    const fileEvents = (await readFile(jsonl, 'utf8')).trim().split('\n');
    expect(fileEvents).toHaveLength(FILE_EVENTS);
    const spooled = (await readFile(spoolFile, 'utf8')).trim().split('\n');
    expect(spooled).toHaveLength(SPOOLED);

    // Sealed from the start: only the consent records hold the identifier (in their key names,
    // as `target.person%40example.com`, and the subject's index of them).
    const before = await whereAre(['target.person'], dir, redis);
    expect(before['target.person']!.length).toBeGreaterThan(0);
    expect(
      before['target.person']!.filter(
        (where) => !where.includes(':consent:') && !where.includes(':cidx:'),
      ),
    ).toEqual([]);

    /** `tokenwarden audit verify` of the file and of the stream: every chain intact. */
    const verify = async (): Promise<Record<string, number>> => {
      const counts: Record<string, number> = {};
      for (const where of [['--file', jsonl], []]) {
        const run = await cli(
          [
            '--prefix',
            PREFIX,
            '--json',
            'audit',
            'verify',
            ...where,
            '--chain-key-file',
            chainKeyFile,
          ],
          env(),
        );
        expect([run.code, run.err]).toEqual([0, '']);
        const report = JSON.parse(run.out) as {
          ok: boolean;
          chains: { producer: string; events: number; intact: boolean }[];
        };
        expect(report.ok).toBe(true);
        for (const chain of report.chains) {
          expect(chain.intact).toBe(true);
          const node = chain.producer.split('.')[0]!;
          const name = `${where.length > 0 ? 'file' : 'stream'} ${['api', 'edge'].includes(node) ? node : 'erase'}`;
          counts[name] = chain.events;
        }
      }
      return counts;
    };
    expect(await verify()).toEqual({
      'file api': FILE_EVENTS,
      'stream edge': EVENTS - FILE_EVENTS - SPOOLED,
    });

    const master = masterKey(await readFile(masterKeyFile));
    keys = new RedisSubjectKeyStore({ url: URL, prefix: PREFIX });
    const opener = () => new SubjectOpener({ store: keys!, masterKeys: [master] });
    const source = new JsonLinesSource({ path: jsonl });
    const accessBefore = await accessReport(source, OTHER, {
      chainKey,
      subjects: opener(),
      maxListed: 20,
    });
    expect(accessBefore.accesses).toBe(FILE_EVENTS / 50);

    const erased = await cli(
      [
        '--prefix',
        PREFIX,
        '--json',
        'erase',
        '--subject',
        TARGET,
        '--master-key-file',
        masterKeyFile,
        '--audit-file',
        jsonl,
        '--actor',
        'dpo@example.com',
      ],
      { ...env(), TOKENWARDEN_AUDIT_CHAIN_KEY: chainKey.toString() },
    );
    expect([erased.code, erased.err]).toEqual([0, '']);
    const result = JSON.parse(erased.out) as {
      pseudonym: string;
      keyDestroyed: boolean;
      consentErased: string[];
    };
    expect(result).toEqual({
      pseudonym: expect.stringMatching(/^ps:/),
      keyDestroyed: true,
      consentErased: ['newsletter'],
    });

    // The identifier is gone: every file, every Redis key (name, DUMP, content).
    const after = await whereAre([TARGET, 'target.person', 'other.person'], dir, redis);
    expect(after[TARGET]).toEqual([]);
    expect(after['target.person']).toEqual([]);
    // The other person's consent record is still there (the search finds what is there).
    expect(after['other.person']!.length).toBeGreaterThan(0);

    // One subject.erased event, with the pseudonym alone.
    const last = parseAuditLine((await readFile(jsonl, 'utf8')).trim().split('\n').pop()!);
    expect([last.type, last.detail?.pseudonym, last.subject]).toEqual([
      'subject.erased',
      result.pseudonym,
      undefined,
    ]);

    // The erasure's own event is a chain of one in the file (and in the stream, where the CLI
    // also records its changes when it talks to Redis).
    expect(await verify()).toMatchObject({
      'file api': FILE_EVENTS,
      'file erase': 1,
      'stream edge': EVENTS - FILE_EVENTS - SPOOLED,
    });
    // The stream's chain goes on in its spool, where the events written while it was down wait.
    const spool = (await readFile(spoolFile, 'utf8'))
      .trim()
      .split('\n')
      .map((line) => parseAuditLine(line));
    expect(
      verifyChains(spool, { key: chainKey }).map((r) => [r.firstSeq, r.lastSeq, r.intact]),
    ).toEqual([[EVENTS - FILE_EVENTS - SPOOLED + 1, EVENTS - FILE_EVENTS, true]]);

    const accessAfter = await accessReport(source, OTHER, {
      chainKey,
      subjects: opener(),
      maxListed: 20,
    });
    expect(accessAfter.chain.verified).toBe(true);
    expect(body(accessAfter)).toEqual(body(accessBefore));

    const exposureAfter = await exposureReport(
      source,
      { client: 'crm' },
      { chainKey, subjects: opener(), maxUsesListed: 1_000 },
    );
    // Every use of the client is counted; the erased person is one of the data subjects still.
    expect(exposureAfter.didReach.uses).toBe(FILE_EVENTS / 2);
    expect(exposureAfter.didReach.dataSubjects).toBe(crmPeople.size);
    expect(exposureAfter.didReach.dataSubjectIds).not.toContain(TARGET);
    expect(exposureAfter.didReach.dataSubjectIds).toContain(`erased:${result.pseudonym}`);
  }, 120_000);
});
