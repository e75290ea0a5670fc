import type { Command } from 'commander';
import type { ApiKeyRecord, SigningKeyInfo, StoreSnapshot } from '@tokenwarden/core';
import { durationMs } from '@tokenwarden/core/policy';
import {
  accessReport,
  breachReport,
  breachSelector,
  chainSummary,
  exposureReport,
  formatReport,
  hygieneReport,
  processingReport,
  scopesReport,
  type BreachReport,
  type ExposureSelector,
  type Report,
  type ReportFormat,
  type SubjectOpener,
} from '@tokenwarden/core/reports';
import { RedisCredentialStore, RedisSigningKeyStore, RedisStore } from '@tokenwarden/redis';
import type { CliIo } from '../io';
import {
  addReportOptions,
  COMMAND_TIMEOUT_MS,
  emit,
  formatOf,
  writePrivate,
  guarded,
  hasRedis,
  periodOf,
  policyOf,
  progressOf,
  sourceOf,
  timeOption,
  type ReportFlags,
} from '../report/context';
import { chainKeyOf, CliError, globalOptions, redisUrl } from '../shared';
import { storeNamingOf, subjectOpenerOf } from '../subjects';

interface ExposureFlags extends ReportFlags {
  readonly tokenId?: string;
  readonly apiKeyId?: string;
  readonly client?: string;
  readonly subject?: string;
  readonly leakedAt?: string;
}

interface AccessFlags extends ReportFlags {
  readonly dataSubject: string;
}

interface BreachFlags extends ReportFlags {
  readonly credential: string;
  readonly detectedAt?: string;
  readonly leakedAt?: string;
  readonly subjectsCsv?: string;
}

interface HygieneFlags extends ReportFlags {
  readonly unusedDays: string;
  readonly expiringWithin: string;
  readonly nearCap: string;
  readonly signingKeyMaxAge?: string;
}

/** Renders, writes, and fails (exit 1, after the report) when the chain shows tampering or loss. */
async function finish(
  io: CliIo,
  flags: ReportFlags,
  report: Report,
  format: ReportFormat,
): Promise<void> {
  await emit(io, flags, formatReport(report, format));
  const chain = report.chain;
  const broken = chain.chains.some((c) => !c.intact) || chain.unreadable > 0 || chain.unchained > 0;
  if (broken) {
    throw new CliError(`the audit chain did not verify for this period: ${chainSummary(chain)}`, 1);
  }
}

function selectorOf(flags: ExposureFlags): ExposureSelector {
  const given = [
    flags.tokenId !== undefined && ({ tokenId: flags.tokenId } as const),
    flags.apiKeyId !== undefined && ({ apiKeyId: flags.apiKeyId } as const),
    flags.client !== undefined && ({ client: flags.client } as const),
    flags.subject !== undefined && ({ subject: flags.subject } as const),
  ].filter((x): x is Exclude<typeof x, false> => x !== false);
  if (given.length !== 1) {
    throw new CliError(
      'name exactly one credential: --token-id, --api-key-id, --client or --subject',
      2,
    );
  }
  return given[0]!;
}

function positiveNumber(value: string, option: string): number {
  if (!/^\d+(\.\d+)?$/.test(value) || Number(value) <= 0) {
    throw new CliError(`${option} must be a positive number`, 2);
  }
  return Number(value);
}

function duration(value: string, option: string): number {
  try {
    return durationMs(value);
  } catch {
    throw new CliError(`${option} must be a duration such as 7d, 24h or 15m`, 2);
  }
}

/** What every report command reads: the period, the policy, the chain key, the progress bar. */
function commonOptions(
  period: ReturnType<typeof periodOf>,
  policy: ReturnType<typeof policyOf>,
  chainKey: Awaited<ReturnType<typeof chainKeyOf>>,
  onProgress: ReturnType<typeof progressOf>['onProgress'],
  subjects?: SubjectOpener,
) {
  return { ...period, policy, chainKey, onProgress, subjects };
}
type Common = ReturnType<typeof commonOptions>;
type Source = ReturnType<typeof sourceOf>['source'];
type State = ReturnType<typeof openState>;

/**
 * Runs one report: opens the audit source (and, when asked and configured, the Redis state),
 * builds the report with a progress bar, closes everything, then renders it. Flags are checked by
 * the caller before, so nothing is opened for a bad command line.
 */
async function runReport(
  io: CliIo,
  command: Command,
  flags: ReportFlags,
  fallback: ReportFormat,
  withState: boolean,
  build: (source: Source, common: Common, state: State | undefined) => Promise<Report>,
  options: {
    readonly needsPolicy?: string;
    readonly after?: (report: Report) => Promise<void>;
  } = {},
): Promise<void> {
  const format = formatOf(command, flags, fallback);
  const period = periodOf(flags, Date.now());
  const policy = policyOf(flags, io);
  if (options.needsPolicy !== undefined && policy === undefined) {
    throw new CliError(options.needsPolicy, 2);
  }
  const chainKey = await chainKeyOf(flags, io);
  const { source, close } = sourceOf(command, flags, io);
  const progress = progressOf(flags, io);
  const state = withState && hasRedis(command, io) ? openState(command, io) : undefined;
  const subjects = subjectOpenerOf(command, flags, io);
  let result: Report;
  try {
    result = await guarded(() =>
      build(
        source,
        commonOptions(period, policy, chainKey, progress.onProgress, subjects.opener),
        state,
      ),
    );
  } finally {
    progress.stop();
    await close();
    await subjects.close();
    await state?.close();
  }
  await options.after?.(result);
  await finish(io, flags, result, format);
}

/**
 * `tokenwarden report exposure|access|scopes|hygiene|processing|breach`: the accountability
 * reports.
 */
export function registerReportCommands(program: Command, io: CliIo): void {
  const report = program
    .command('report')
    .description(
      'accountability reports from the policy and the audit trail: exposure, access, scopes, hygiene, processing, breach',
    );

  addReportOptions(
    report
      .command('exposure')
      .description(
        'a leaked credential: what it could reach and what it did reach (Markdown for the breach record)',
      )
      .option('--token-id <id>', 'the token id (jti) or token fingerprint')
      .option('--api-key-id <id>', 'the API key id (ak_…)')
      .option('--client <id>', 'every credential of a client')
      .option('--subject <sub>', 'every credential of a subject')
      .option('--leaked-at <time>', 'when it is suspected to have leaked: later uses are flagged'),
    'markdown',
  ).action(async (flags: ExposureFlags, command: Command) => {
    const selector = selectorOf(flags);
    const leakedAt = timeOption(flags.leakedAt, '--leaked-at', Date.now());
    await runReport(io, command, flags, 'markdown', true, async (source, common, state) => {
      const apiKey =
        'apiKeyId' in selector ? await state?.credentials.getApiKey(selector.apiKeyId) : undefined;
      return exposureReport(source, selector, {
        ...common,
        ...(leakedAt !== undefined ? { leakedAt } : {}),
        ...(state ? { store: state.store } : {}),
        ...(apiKey ? { apiKey } : {}),
      });
    });
  });

  addReportOptions(
    report
      .command('access')
      .description(
        "a data subject's right of access (Art. 15): which clients and tokens touched their data, when, why",
      )
      .requiredOption('--data-subject <id>', 'the person (data subject id)'),
    'text',
  ).action((flags: AccessFlags, command: Command) =>
    runReport(io, command, flags, 'text', false, (source, common) =>
      accessReport(source, flags.dataSubject, common),
    ),
  );

  addReportOptions(
    report
      .command('scopes')
      .description(
        'least privilege: per client, scopes granted vs exercised, and the scopes to remove',
      ),
    'text',
    '30d',
  ).action((flags: ReportFlags, command: Command) =>
    runReport(io, command, flags, 'text', false, (source, common) => scopesReport(source, common)),
  );

  addReportOptions(
    report
      .command('hygiene')
      .description(
        'keys and clients past rotation, keys expiring soon or unused, long token lifetimes, old signing keys, routes without a lawful basis',
      )
      .option('--unused-days <n>', 'report API keys unused for this many days', '30')
      .option('--expiring-within <duration>', 'report API keys expiring within this time', '7d')
      .option(
        '--near-cap <ratio>',
        'report tokens issued with at least this share of their lifetime cap',
        '0.9',
      )
      .option(
        '--signing-key-max-age <duration>',
        "oldest acceptable signing key (default: the policy's signing.rotationPeriod, else 90d)",
      ),
    'text',
    '30d',
  ).action(async (flags: HygieneFlags, command: Command) => {
    const unusedDays = positiveNumber(flags.unusedDays, '--unused-days');
    const expiringWithinMs = duration(flags.expiringWithin, '--expiring-within');
    const nearCapRatio = positiveNumber(flags.nearCap, '--near-cap');
    if (nearCapRatio > 1) throw new CliError('--near-cap must be a ratio between 0 and 1', 2);
    const signingKeyMaxAgeMs =
      flags.signingKeyMaxAge === undefined
        ? undefined
        : duration(flags.signingKeyMaxAge, '--signing-key-max-age');
    await runReport(io, command, flags, 'text', true, async (source, common, state) => {
      let apiKeys: ApiKeyRecord[] | undefined;
      let signingKeys: SigningKeyInfo[] | undefined;
      if (state) {
        apiKeys = await state.credentials.listApiKeys();
        signingKeys = (await state.signing.loadInfo()).keys;
      }
      return hygieneReport(source, {
        ...common,
        unusedForMs: unusedDays * 86_400_000,
        expiringWithinMs,
        nearCapRatio,
        ...(signingKeyMaxAgeMs !== undefined ? { signingKeyMaxAgeMs } : {}),
        ...(apiKeys ? { apiKeys } : {}),
        ...(signingKeys ? { signingKeys } : {}),
      });
    });
  });

  addReportOptions(
    report
      .command('processing')
      .description(
        'records of processing (GDPR Art. 30): purposes, lawful bases, data and data subjects, recipients, retention, security measures, observed use',
      ),
    'markdown',
  ).action((flags: ReportFlags, command: Command) =>
    runReport(
      io,
      command,
      flags,
      'markdown',
      false,
      (source, common) => processingReport(source, { ...common, policy: common.policy! }),
      {
        needsPolicy:
          'the records of processing come from the policy: pass --policy <file> (or set TOKENWARDEN_POLICY)',
      },
    ),
  );

  addReportOptions(
    report
      .command('breach')
      .description(
        'a personal-data breach through a leaked credential (GDPR Art. 33 and 34): nature, people and records concerned, time line and 72-hour deadline, measures, the data subjects to notify',
      )
      .requiredOption(
        '--credential <id>',
        'the leaked credential: token id (jti), API key id (ak_…) or token fingerprint',
      )
      .option(
        '--detected-at <time>',
        'when the breach was detected: the 72 hours run from then (default: now)',
      )
      .option(
        '--leaked-at <time>',
        'when it is suspected to have leaked: uses from then on are the breach (default: every use in the period)',
      )
      .option(
        '--subjects-csv <file>',
        'also write the data subjects to notify as CSV to this file (mode 0600)',
      ),
    'markdown',
  ).action(async (flags: BreachFlags, command: Command) => {
    const now = Date.now();
    const detectedAt = timeOption(flags.detectedAt, '--detected-at', now);
    const leakedAt = timeOption(flags.leakedAt, '--leaked-at', now);
    const selector = breachSelector(flags.credential);
    await runReport(
      io,
      command,
      flags,
      'markdown',
      true,
      async (source, common, state) => {
        const apiKey =
          'apiKeyId' in selector
            ? await state?.credentials.getApiKey(selector.apiKeyId)
            : undefined;
        return breachReport(source, selector, {
          ...common,
          ...(detectedAt !== undefined ? { detectedAt } : {}),
          ...(leakedAt !== undefined ? { leakedAt } : {}),
          ...(state ? { store: state.store } : {}),
          ...(apiKey ? { apiKey } : {}),
        });
      },
      {
        after: async (result) => {
          if (flags.subjectsCsv === undefined) return;
          await writePrivate(
            flags.subjectsCsv,
            formatReport(result as BreachReport, 'csv'),
            '--subjects-csv',
          );
        },
      },
    );
  });
}

/** The Redis stores a report reads state from (revocations, API keys, signing keys): read only. */
function openState(command: Command, io: CliIo) {
  const url = redisUrl(command, io);
  const prefix = globalOptions(command).prefix;
  const options = {
    url,
    ...(prefix !== undefined ? { prefix } : {}),
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
  };
  const store = new RedisStore({ ...options, ...storeNamingOf(io) });
  const credentials = new RedisCredentialStore(options);
  const signing = new RedisSigningKeyStore(options);
  return {
    store: {
      lookup: (query: Parameters<RedisStore['lookup']>[0]): Promise<StoreSnapshot> =>
        store.lookup(query),
    },
    credentials,
    signing,
    async close() {
      await Promise.allSettled([store.close(), credentials.close(), signing.close()]);
    },
  };
}
