import { createWriteStream } from 'node:fs';
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import {
  ChainHasher,
  StoreUnavailableError,
  verifyChains,
  type AuditEvent,
} from '@tokenwarden/core/internal';
import { AuditStreamReader, DEFAULT_AUDIT_RETENTION_MS, entryTime } from '@tokenwarden/redis';
import {
  chainLine,
  checkedFilter,
  csvHeader,
  csvRow,
  humanLine,
  jsonLine,
  matches,
  type EventFilter,
} from '../audit/format';
import { parsePointInTime } from '../audit/time';
import {
  auditChainKey,
  checkpointReader,
  lineProblem,
  planVerification,
  readAnchors,
  verifyFile,
  type ChainKeyFlags,
  type TamperFlags,
} from '../audit/verify';
import type { CliIo } from '../io';
import { CliError, EXIT_FAILURE, globalOptions, print, redisUrl } from '../shared';
import { addSubjectKeyOptions, subjectOpenerOf, type SubjectKeyFlags } from '../subjects';

const TIMEOUT_MS = 5_000;

interface TailOptions extends EventFilter, SubjectKeyFlags {
  readonly fromStart?: boolean;
  readonly limit?: string;
  readonly group?: string;
  readonly consumer?: string;
}

interface ExportOptions extends EventFilter, ChainKeyFlags, SubjectKeyFlags {
  readonly since?: string;
  readonly until?: string;
  readonly format: string;
  readonly output?: string;
  readonly progress?: boolean;
}

interface VerifyOptions extends TamperFlags, ChainKeyFlags {
  readonly file?: string;
  readonly anchor?: string;
}

function addFilters(command: Command): Command {
  // Sealed data subjects are shown (and matched) as identifiers with the master key.
  return addSubjectKeyOptions(command)
    .option('--subject <id>', 'only events of this subject (or data subject)')
    .option('--client <id>', 'only events of this client')
    .option('--token <id>', 'only events of this token id (jti) or token fingerprint')
    .option('--outcome <outcome>', 'only allow, deny, success or failure');
}

/** Opens a reader on the global Redis options; the URL is checked first and never printed. */
function openReader(command: Command, io: CliIo): AuditStreamReader {
  const url = redisUrl(command, io);
  return new AuditStreamReader({
    url,
    prefix: globalOptions(command).prefix,
    commandTimeoutMs: TIMEOUT_MS,
  });
}

/** Runs `action` with a reader, closing it; Redis failures become one-line CLI errors. */
async function withReader<T>(
  command: Command,
  io: CliIo,
  action: (reader: AuditStreamReader) => Promise<T>,
): Promise<T> {
  const reader = openReader(command, io);
  try {
    return await action(reader);
  } catch (error) {
    if (error instanceof StoreUnavailableError) {
      throw new CliError(`cannot read the audit stream: ${error.message}`, EXIT_FAILURE);
    }
    throw error;
  } finally {
    await reader.close();
  }
}

function positiveInt(value: string | undefined, option: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) < 1) {
    throw new CliError(`${option} must be a positive whole number`, 2);
  }
  return Number(value);
}

/** Writes text, waiting when the destination is full. */
async function write(out: NodeJS.WritableStream, text: string): Promise<void> {
  if (!out.write(text)) await new Promise<void>((resolve) => out.once('drain', resolve));
}

/** `tokenwarden audit tail|export|verify`: follow, export and verify the Redis audit stream. */
export function registerAuditCommands(program: Command, io: CliIo): void {
  const audit = program
    .command('audit')
    .description('follow, export and verify the audit trail (the Redis audit stream)');

  addFilters(
    audit
      .command('tail')
      .description('print audit events as they are written, until interrupted')
      .option('--from-start', 'begin with the oldest event kept instead of new ones')
      .option('--limit <n>', 'stop after n matching events')
      .option('--group <name>', 'read as this consumer group (shares events between readers)')
      .option('--consumer <name>', 'consumer name within --group (default: tokenwarden-cli)'),
  ).action(async (options: TailOptions, command: Command) => {
    const filter = checkedFilter(options);
    const limit = positiveInt(options.limit, '--limit');
    const json = globalOptions(command).json === true;
    const controller = new AbortController();
    const stop = () => controller.abort();
    process.once('SIGINT', stop);
    const subjects = subjectOpenerOf(command, options, io);
    try {
      await withReader(command, io, async (reader) => {
        let shown = 0;
        let warned = false;
        const events = reader.follow({
          after: options.fromStart ? '0' : '$',
          blockMs: 1_000,
          signal: controller.signal,
          group:
            options.group === undefined
              ? undefined
              : { name: options.group, consumer: options.consumer ?? 'tokenwarden-cli' },
          onError: (error) => {
            if (warned) return;
            warned = true;
            io.stderr.write(`tokenwarden: ${error.message}; retrying\n`);
          },
        });
        for await (const { event: stored, raw } of events) {
          warned = false;
          if (stored === undefined) continue;
          // JSON lines stay as stored (their chain verifies); the human form is opened.
          const event = stored.sealed === undefined ? stored : await subjects.opener.open(stored);
          if (!matches(event, filter)) continue;
          io.stdout.write((json ? jsonLine(raw) : humanLine(event)) + '\n');
          shown += 1;
          if (limit !== undefined && shown >= limit) break;
        }
      });
    } finally {
      process.removeListener('SIGINT', stop);
      await subjects.close();
    }
  });

  addFilters(
    audit
      .command('export')
      .description('write the events of a time window as JSON lines or CSV')
      .option('--since <time>', 'from (ISO 8601, epoch ms, now, or 30m / 24h / 7d ago)')
      .option('--until <time>', 'to, inclusive (same forms)')
      .option('--format <format>', 'jsonl or csv', 'jsonl')
      .option('--output <file>', 'write to this file instead of standard output')
      .option('--progress', 'show a progress bar (shown anyway on a terminal for long exports)')
      .option(
        '--chain-key-file <path>',
        'chain key, to withhold lines whose content does not match their hash (default: $TOKENWARDEN_AUDIT_CHAIN_KEY)',
      ),
  ).action(async (options: ExportOptions, command: Command) => {
    const filter = checkedFilter(options);
    const exportKey = await auditChainKey(command, io, options);
    const hasher = exportKey === undefined ? undefined : new ChainHasher(exportKey);
    const withheld: string[] = [];
    let withheldCount = 0;
    if (options.format !== 'jsonl' && options.format !== 'csv') {
      throw new CliError('--format must be jsonl or csv', 2);
    }
    const now = Date.now();
    const since =
      options.since === undefined ? undefined : parsePointInTime(options.since, '--since', now);
    const until =
      options.until === undefined ? undefined : parsePointInTime(options.until, '--until', now);
    if (since !== undefined && until !== undefined && since > until) {
      throw new CliError('--since must not be later than --until', 2);
    }
    const subjects = subjectOpenerOf(command, options, io);
    const count = await withReader(command, io, async (reader) => {
      const info = await reader.info();
      const out: NodeJS.WritableStream =
        options.output === undefined
          ? io.stdout
          : createWriteStream(options.output, { flags: 'w', mode: 0o600 });
      const from = since ?? (info.firstEntryId ? entryTime(info.firstEntryId) : now);
      const to = until ?? (info.lastEntryId ? entryTime(info.lastEntryId) : now);
      const terminal = (io.stderr as { isTTY?: boolean }).isTTY === true;
      const bar =
        options.progress === true || (terminal && info.length > 10_000)
          ? new SingleBar({
              stream: io.stderr,
              format: 'exporting [{bar}] {percentage}% | {exported} events',
              noTTYOutput: !terminal,
              notTTYSchedule: 1_000,
              hideCursor: terminal,
            })
          : undefined;
      bar?.start(Math.max(1, to - from), 0, { exported: 0 });
      let exported = 0;
      try {
        if (options.format === 'csv') await write(out, csvHeader());
        for await (const { event: stored, raw, entryId } of reader.range({ since, until })) {
          if (stored === undefined) continue;
          // JSON lines are exported as stored (their chain verifies); CSV shows them opened.
          const opened = stored.sealed === undefined ? stored : await subjects.opener.open(stored);
          if (!matches(opened, filter)) continue;
          const event = stored;
          // A line that is not as the trail wrote it is never handed out as valid.
          const problem = lineProblem(event, raw, hasher);
          if (problem !== undefined) {
            withheldCount += 1;
            if (withheld.length < 20) withheld.push(problem);
            continue;
          }
          await write(out, options.format === 'csv' ? csvRow(opened) : jsonLine(raw) + '\n');
          exported += 1;
          if (bar && exported % 500 === 0) {
            bar.update(Math.max(0, entryTime(entryId) - from), { exported });
          }
        }
        bar?.update(Math.max(1, to - from), { exported });
      } finally {
        bar?.stop();
        if (out !== io.stdout) await new Promise<void>((resolve) => out.end(() => resolve()));
        await subjects.close();
      }
      return exported;
    });
    const summary = { exported: count, format: options.format, since, until };
    const text = `exported ${count} events as ${options.format}`;
    // With the data on standard output, the summary goes to standard error.
    if (options.output === undefined) io.stderr.write(`tokenwarden: ${text}\n`);
    else print(command, io, summary, () => `${text} to ${options.output}`);
    if (withheldCount > 0) {
      for (const problem of withheld) io.stderr.write(`tokenwarden: withheld ${problem}\n`);
      throw new CliError(
        `${withheldCount} events were withheld from the export: their stored lines were altered (run audit verify)`,
        EXIT_FAILURE,
      );
    }
  });

  audit
    .command('verify')
    .description(
      "check every producer's hash chain: altered, deleted, reordered or non-canonical events, a cut tail or start, a vanished producer",
    )
    .option(
      '--chain-key-file <path>',
      'file holding the chain key of a keyed chain (default: $TOKENWARDEN_AUDIT_CHAIN_KEY)',
    )
    .option(
      '--file <path>',
      'verify a JSON-lines file (a JsonLinesSink file or an export) instead of the Redis stream',
    )
    .option(
      '--anchor <path>',
      'an earlier `audit verify --json` report kept elsewhere: a rewrite or cut since then shows',
    )
    .option(
      '--checkpoints <files...>',
      'signed checkpoints (audit.checkpoints): files, redis: (the list in --redis-url) or a redis:// URL; a cut tail, rewound head, cut start or vanished producer shows',
    )
    .option(
      '--checkpoint-key <files...>',
      'Ed25519 public key (PEM) of the checkpoint signer (default: the key derived from the chain key)',
    )
    .option(
      '--retention <off|duration>',
      'how long the trail keeps events (30d, 24h) or off: a chain starting later than that allows was cut (default: 90d for the stream, off for --file)',
    )
    .option(
      '--chain-key-store <file>',
      'a FileChainKeyStore holding the chain key sealed by the master key (default: the Redis of --redis-url, with $TOKENWARDEN_MASTER_KEY)',
    )
    .option('--unkeyed', 'check a trail written with audit.chain: false (no chain key)')
    .action(async (options: VerifyOptions, command: Command) => {
      const key = await auditChainKey(command, io, options);
      const plan = await planVerification(
        options,
        key,
        options.file !== undefined ? 'off' : `${DEFAULT_AUDIT_RETENTION_MS / 86_400_000}d`,
        Date.now(),
        checkpointReader(command, io),
      );
      const anchors = options.anchor === undefined ? [] : await readAnchors(options.anchor);
      const reports =
        options.file !== undefined
          ? await verifyFile(options.file, plan, anchors)
          : await withReader(command, io, async (reader) => {
              const heads = await reader.heads();
              const events: AuditEvent[] = [];
              let unreadable = 0;
              for await (const { event } of reader.range()) {
                if (event === undefined) unreadable += 1;
                else events.push(event);
              }
              const found = verifyChains(events, {
                key,
                heads: [...heads, ...anchors, ...plan.heads],
                retention: plan.retention,
              });
              return { found, unreadable };
            });
      const checkpointProblems = plan.checkpointProblems;
      const ok =
        reports.unreadable === 0 &&
        checkpointProblems.length === 0 &&
        reports.found.every((r) => r.intact);
      print(
        command,
        io,
        {
          ok,
          unreadableEntries: reports.unreadable,
          chains: reports.found,
          checkpoints: { verified: plan.checkpointsRead, problems: checkpointProblems },
        },
        () => {
          const lines = reports.found.map(chainLine);
          if (reports.unreadable > 0) {
            lines.push(`BROKEN  ${reports.unreadable} entries hold no readable event`);
          }
          for (const p of checkpointProblems) lines.push(`BROKEN  checkpoints: ${p.message}`);
          if (plan.checkpointsRead > 0) {
            lines.push(`checked against ${plan.checkpointsRead} signed checkpoints`);
          }
          if (key === undefined) {
            lines.push('unkeyed: this catches accidental damage only, not a recomputed chain');
          }
          if (reports.found.length === 0) lines.push('no audit events');
          lines.push(
            ok ? 'every chain is intact' : 'the audit trail has been tampered with or lost events',
          );
          return lines.join('\n');
        },
      );
      if (!ok) throw new CliError('audit verification failed', 1);
    });
}
