import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { isConsentNotice, type ConsentRecord } from '@tokenwarden/core';
import {
  addSubjectLifecycleOptions,
  addPolicyOption,
  isoTime,
  pairs,
  parseDuration,
  table,
  parseTime,
  policyOf,
  READ_ONLY,
  withLifecycle,
  type LifecycleOptions,
} from '../apikey/context';
import type { CliIo } from '../io';
import { CliError, CliExit, print, redisUrl } from '../shared';

interface GrantOptions extends LifecycleOptions {
  readonly policy?: string;
  readonly anyPurpose?: boolean;
  readonly expiresAt?: string;
  readonly expiresIn?: string;
  readonly source?: string;
  readonly notice?: string;
  readonly noticeFile?: string;
  readonly evidence?: string;
}

interface WithdrawOptions extends LifecycleOptions {
  readonly policy?: string;
  readonly anyPurpose?: boolean;
  readonly source?: string;
}

/** `active`, `withdrawn`, `expired` or `none`, as the consent stage would judge it now. */
export function consentStatus(record: ConsentRecord | undefined, now: number): string {
  if (record === undefined) return 'none';
  if (record.withdrawnAt !== undefined && record.withdrawnAt >= record.grantedAt) {
    return 'withdrawn';
  }
  if (record.grantedAt <= 0) return 'none';
  if (record.expiresAt !== undefined && record.expiresAt <= now) return 'expired';
  return 'active';
}

function describe(
  record: ConsentRecord | undefined,
  subject: string,
  purpose: string,
  heading?: string,
): string {
  const now = Date.now();
  if (record === undefined) return `No consent record for ${subject} / ${purpose}.`;
  return (
    (heading === undefined ? '' : `${heading}\n\n`) +
    pairs([
      ['subject', record.subject],
      ['purpose', record.purpose],
      ['status', consentStatus(record, now)],
      ['granted', record.grantedAt === 0 ? '-' : isoTime(record.grantedAt)],
      ['expires', isoTime(record.expiresAt)],
      ['withdrawn', isoTime(record.withdrawnAt)],
      ['source', record.source ?? '-'],
      ['notice', record.notice ?? '-'],
      ['evidence', record.evidence ?? '-'],
      ['deleted at', isoTime(record.keepUntil)],
    ])
  );
}

/** The notice of `--notice` or `--notice-file` (its SHA-256), checked. */
function noticeOf(options: GrantOptions): string | undefined {
  if (options.notice !== undefined && options.noticeFile !== undefined) {
    throw new CliError('pass --notice or --notice-file, not both', 2);
  }
  if (options.noticeFile !== undefined) {
    let text: Buffer;
    try {
      text = readFileSync(options.noticeFile);
    } catch (error) {
      throw new CliError(
        `cannot read --notice-file ${options.noticeFile} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
        2,
      );
    }
    return `sha256:${createHash('sha256').update(text).digest('hex')}`;
  }
  if (options.notice !== undefined && !isConsentNotice(options.notice)) {
    throw new CliError(
      `--notice must be <id>@<version> (e.g. privacy-notice@2026-03) or sha256:<64 hex>`,
      2,
    );
  }
  return options.notice;
}

/** The `--subject` of `consent list` and `consent erase`, checked. */
function checkedSubject(subject: string | undefined): string {
  if (subject === undefined || subject === '') {
    throw new CliError('name the data subject with --subject <id>', 2);
  }
  const control = [...subject].some((ch) => {
    const code = ch.charCodeAt(0);
    return code < 0x20 || (code >= 0x7f && code <= 0x9f);
  });
  if (subject.length > 256 || control) {
    throw new CliError('a subject is at most 256 characters, without control characters', 2);
  }
  return subject;
}

/** One line per record, for people. */
function recordTable(records: readonly ConsentRecord[], subject: string): string {
  if (records.length === 0) return `No consent records for ${subject}.`;
  const now = Date.now();
  return table(
    ['PURPOSE', 'STATUS', 'GRANTED', 'WITHDRAWN', 'NOTICE', 'SOURCE', 'DELETED AT'],
    records.map((r) => [
      r.purpose,
      consentStatus(r, now),
      r.grantedAt === 0 ? '-' : isoTime(r.grantedAt),
      isoTime(r.withdrawnAt),
      r.notice ?? '-',
      r.source ?? '-',
      isoTime(r.keepUntil),
    ]),
  );
}

function checkedPurpose(purpose: string): string {
  if (!/^[A-Za-z0-9._:-]{1,64}$/.test(purpose)) {
    throw new CliError('a purpose is 1-64 characters [A-Za-z0-9._:-], as in the policy', 2);
  }
  return purpose;
}

/**
 * The purposes consent may be recorded for: with a policy, its purposes whose lawful basis is
 * consent (any other purpose is refused, exit 2). Without one a purpose cannot be checked, so a
 * typo would be recorded as a purpose no route asks for: that takes `--any-purpose`.
 */
function purposesFor(
  purpose: string,
  options: { readonly policy?: string; readonly anyPurpose?: boolean },
  io: CliIo,
): readonly string[] {
  const policy = policyOf(options, io);
  if (policy === undefined) {
    if (options.anyPurpose === true) return [purpose];
    throw new CliError(
      `cannot check purpose '${purpose}' without a policy: pass --policy <file> (or set TOKENWARDEN_POLICY), or --any-purpose to record it unchecked`,
      2,
    );
  }
  const declared = Object.prototype.hasOwnProperty.call(policy.purposes, purpose)
    ? policy.purposes[purpose]
    : undefined;
  if (declared === undefined) {
    throw new CliError(
      `purpose '${purpose}' is not declared in the policy (declared: ${Object.keys(policy.purposes).join(', ') || 'none'})`,
      2,
    );
  }
  if (declared.lawfulBasis !== 'consent') {
    throw new CliError(
      `purpose '${purpose}' rests on ${declared.lawfulBasis}, not consent: there is no consent to record`,
      2,
    );
  }
  return [purpose];
}

/**
 * `tokenwarden consent grant|withdraw|show|list|erase`: the consent records the API nodes check.
 */
export function registerConsentCommands(program: Command, io: CliIo): void {
  const consent = program
    .command('consent')
    .description('grant, withdraw, show, list and erase consent records');

  addSubjectLifecycleOptions(
    addPolicyOption(consent.command('grant'))
      .description("record a data subject's consent to a purpose")
      .argument('<subject>', 'the data subject')
      .argument('<purpose>', 'the purpose, as declared in the policy')
      .option('--any-purpose', 'record a purpose without a policy to check it against')
      .option(
        '--expires-at <time>',
        'when the consent lapses (ISO 8601, epoch ms, or 365d from now)',
      )
      .option('--expires-in <duration>', 'when the consent lapses, from now (e.g. 365d)')
      .option(
        '--source <text>',
        "where it was collected: privacy-portal, api, a form id (default: 'cli')",
      )
      .option('--notice <id@version>', 'the notice agreed to, e.g. privacy-notice@2026-03')
      .option('--notice-file <path>', 'the notice agreed to, recorded as the SHA-256 of this file')
      .option('--evidence <ref>', 'a reference to the proof (form submission id, receipt hash)'),
  ).action(async (subject: string, purpose: string, options: GrantOptions, command: Command) => {
    redisUrl(command, io);
    checkedPurpose(purpose);
    const purposes = purposesFor(purpose, options, io);
    if (options.expiresAt !== undefined && options.expiresIn !== undefined) {
      throw new CliError('pass --expires-at or --expires-in, not both', 2);
    }
    const notice = noticeOf(options);
    const now = Date.now();
    const expiresAt =
      options.expiresAt !== undefined
        ? parseTime(options.expiresAt, '--expires-at', now)
        : options.expiresIn !== undefined
          ? now + parseDuration(options.expiresIn, '--expires-in')
          : undefined;
    await withLifecycle(
      command,
      io,
      options,
      async ({ admin, actor }) => {
        const record = await admin.grantConsent({
          subject,
          purpose,
          expiresAt,
          source: options.source ?? 'cli',
          notice,
          evidence: options.evidence,
          actor,
        });
        print(command, io, { ...record, status: consentStatus(record, Date.now()) }, () =>
          describe(record, subject, purpose, 'Consent granted.'),
        );
      },
      purposes,
    );
  });

  addSubjectLifecycleOptions(
    addPolicyOption(consent.command('withdraw'))
      .description('record a withdrawal: no token, old or new, passes this purpose any more')
      .argument('<subject>', 'the data subject')
      .argument('<purpose>', 'the purpose')
      .option('--any-purpose', 'record a purpose without a policy to check it against')
      .option('--source <text>', 'where it was withdrawn (form id, ticket)'),
  ).action(async (subject: string, purpose: string, options: WithdrawOptions, command: Command) => {
    redisUrl(command, io);
    checkedPurpose(purpose);
    const purposes = purposesFor(purpose, options, io);
    await withLifecycle(
      command,
      io,
      options,
      async ({ admin, actor }) => {
        const retentionMs = policyOf(options, io)?.retention?.consentAfterWithdrawalMs;
        const record = await admin.withdrawConsent({
          subject,
          purpose,
          source: options.source,
          actor,
          ...(retentionMs === undefined ? {} : { retentionMs }),
        });
        print(command, io, { ...record, status: consentStatus(record, Date.now()) }, () =>
          describe(record, subject, purpose, 'Consent withdrawn.'),
        );
      },
      purposes,
    );
  });

  consent
    .command('list')
    .description('list every consent record of one data subject (the right of access)')
    .requiredOption('--subject <id>', 'the data subject')
    .action(async (options: { readonly subject?: string }, command: Command) => {
      redisUrl(command, io);
      const subject = checkedSubject(options.subject);
      await withLifecycle(command, io, READ_ONLY, async ({ admin }) => {
        const records = await admin.consentRecords(subject);
        print(
          command,
          io,
          {
            subject,
            records: records.map((r) => ({ ...r, status: consentStatus(r, Date.now()) })),
          },
          () => recordTable(records, subject),
        );
      });
    });

  addSubjectLifecycleOptions(
    consent
      .command('erase')
      .description(
        'delete every consent record of one data subject (the right to erasure); the audit trail keeps the history and records consent.erased',
      )
      .requiredOption('--subject <id>', 'the data subject')
      .option('--reason <text>', 'why, for the audit trail (e.g. the request number)'),
  ).action(
    async (
      options: LifecycleOptions & { readonly subject?: string; readonly reason?: string },
      command: Command,
    ) => {
      redisUrl(command, io);
      const subject = checkedSubject(options.subject);
      await withLifecycle(command, io, options, async ({ admin, actor }) => {
        const purposes = await admin.eraseConsent(subject, { actor, reason: options.reason });
        print(command, io, { subject, erased: purposes }, () =>
          purposes.length === 0
            ? `No consent records for ${subject}; nothing erased (the erasure is audited).`
            : `Erased ${purposes.length} consent record(s) of ${subject}: ${purposes.join(', ')}.`,
        );
      });
    },
  );

  consent
    .command('show')
    .description('show one consent record; exit 1 when there is none')
    .argument('<subject>', 'the data subject')
    .argument('<purpose>', 'the purpose')
    .action(async (subject: string, purpose: string, _options: unknown, command: Command) => {
      redisUrl(command, io);
      checkedPurpose(purpose);
      const found = await withLifecycle(command, io, READ_ONLY, async ({ admin }) => {
        const record = await admin.getConsent(subject, purpose);
        print(
          command,
          io,
          record === undefined
            ? { subject, purpose, status: 'none' }
            : { ...record, status: consentStatus(record, Date.now()) },
          () => describe(record, subject, purpose),
        );
        return record !== undefined;
      });
      // The answer is printed either way; a script tells "none" by the exit code.
      if (!found) throw new CliExit(1);
    });
}
