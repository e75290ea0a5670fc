import type { Command } from 'commander';
import { ApiKeyError, ApiKeys, RefreshTokens, parseCredential } from '@tokenwarden/core';
import { findStoredCredential, revokeStoredCredential } from '@tokenwarden/core/internal';
import {
  addSubjectLifecycleOptions,
  isoTime,
  parseTime,
  withLifecycle,
  type Lifecycle,
  type LifecycleOptions,
} from '../apikey/context';
import type { CliIo } from '../io';
import { CliError, print, redisUrl } from '../shared';

interface TokenOptions extends LifecycleOptions {
  readonly expiresAt?: string;
  readonly reason?: string;
}

interface SecretOptions extends LifecycleOptions {
  readonly secret?: string;
  readonly reason?: string;
}

interface BeforeOptions extends LifecycleOptions {
  readonly before?: string;
  readonly reason?: string;
  readonly yes?: boolean;
}

/** A store refusal (Redis down) as a one-line CLI error; the message never names a key or URL. */
async function guarded<T>(action: () => Promise<T>): Promise<T> {
  try {
    return await action();
  } catch (error) {
    if (error instanceof CliError) throw error;
    if (error instanceof TypeError || error instanceof RangeError) {
      throw new CliError(error.message, 2);
    }
    throw new CliError(error instanceof Error ? error.message : String(error), 1);
  }
}

/**
 * `tokenwarden revoke token|subject|client|all`: refuses tokens at once on every node that reads
 * the same Redis. A token id of an API key (`ak_…`) or a refresh-token family (`rf_…`) revokes
 * that key or family too. `tokenwarden revoke --secret -` revokes a leaked API key, refresh token
 * or JWT read from standard input.
 */
export function registerRevokeCommands(program: Command, io: CliIo): void {
  const revoke = program
    .command('revoke')
    .description(
      'revoke a token, a subject, a client or everything, or a leaked secret read from standard input (--secret -)',
    );

  // The default subcommand: `revoke --secret -` runs it, with every option after `revoke`.
  addSubjectLifecycleOptions(
    revoke
      .command('secret', { isDefault: true })
      .description(
        'revoke a leaked API key, refresh token or JWT read from standard input: revoke --secret - < file (never on the command line)',
      )
      .option('--secret <source>', "where the secret comes from: '-', standard input")
      .option('--reason <text>', 'why, for the audit trail', 'leaked'),
  ).action(async (options: SecretOptions, command: Command) => {
    if (options.secret === undefined) {
      throw new CliError(
        'name what to revoke: revoke token|subject|client|all <id>, or revoke --secret - with the secret on standard input',
        2,
      );
    }
    if (options.secret !== '-') {
      // Never echoed: the value may be the secret itself, typed where it should not be.
      throw new CliError(
        "--secret takes only '-': pipe the secret into standard input (on the command line it would stay in the shell history and the process list); revoke it now, it may have leaked",
        2,
      );
    }
    redisUrl(command, io);
    const secret = await readSecret(io);
    const kind = secretKind(secret);
    await withLifecycle(command, io, options, (lifecycle) =>
      guarded(() => revokeSecret(command, io, lifecycle, secret, kind, options.reason)),
    );
  });

  addSubjectLifecycleOptions(
    revoke
      .command('token')
      .description('refuse one token id (jti), API key id (ak_…) or refresh family (rf_…)')
      .argument('<token-id>', 'the token id')
      .option('--expires-at <time>', "the token's expiry (ISO 8601); kept until then")
      .option('--reason <text>', 'why, for the audit trail (e.g. leaked)'),
  ).action(async (tokenId: string, options: TokenOptions, command: Command) => {
    redisUrl(command, io);
    const expiresAt =
      options.expiresAt === undefined
        ? undefined
        : parseTime(options.expiresAt, '--expires-at', Date.now());
    await withLifecycle(command, io, options, ({ admin, credentials, actor }) =>
      guarded(async () => {
        const also: string[] = [];
        if (tokenId.startsWith('ak_')) {
          try {
            await new ApiKeys({ store: credentials, audit: admin, revoker: admin }).revoke(
              tokenId,
              {
                actor,
                reason: options.reason,
              },
            );
            also.push('API key');
          } catch (error) {
            if (!(error instanceof ApiKeyError)) throw error;
          }
        } else if (tokenId.startsWith('rf_')) {
          const family = new RefreshTokens({ store: credentials, revoker: admin, audit: admin });
          if (await family.revokeFamily(tokenId, { actor, reason: options.reason })) {
            also.push('refresh-token family and its access tokens');
          }
        }
        await admin.revokeToken(tokenId, { expiresAt, actor, reason: options.reason });
        print(command, io, { revoked: 'token', tokenId, also }, () =>
          [`Token ${tokenId} revoked.`, ...also.map((what) => `Also revoked: ${what}.`)].join('\n'),
        );
      }),
    );
  });

  for (const scope of ['subject', 'client'] as const) {
    addSubjectLifecycleOptions(
      revoke
        .command(scope)
        .description(`refuse every token of a ${scope} issued before now (or --before)`)
        .argument(`<${scope}>`, `the ${scope} id`)
        .option(
          '--before <time>',
          'refuse tokens issued at or before this time (ISO 8601, epoch ms, now, or 7d ago)',
          'now',
        )
        .option('--reason <text>', 'why, for the audit trail'),
    ).action(async (id: string, options: BeforeOptions, command: Command) => {
      redisUrl(command, io);
      const before = parseTime(options.before ?? 'now', '--before', Date.now());
      await withLifecycle(command, io, options, ({ admin, actor }) =>
        guarded(async () => {
          const change = { before, actor, reason: options.reason };
          if (scope === 'subject') await admin.revokeSubject(id, change);
          else await admin.revokeClient(id, change);
          print(
            command,
            io,
            { revoked: scope, id, before },
            () =>
              `Every token of ${scope} ${id} issued at or before ${isoTime(before)} is refused.`,
          );
        }),
      );
    });
  }

  addSubjectLifecycleOptions(
    revoke
      .command('all')
      .description('refuse every token issued before now, for everyone (needs --yes)')
      .option(
        '--before <time>',
        'refuse tokens issued at or before this time (ISO 8601, epoch ms, now, or 7d ago)',
        'now',
      )
      .option('--reason <text>', 'why, for the audit trail')
      .option('--yes', 'confirm: every client must get new tokens'),
  ).action(async (options: BeforeOptions, command: Command) => {
    // The Redis URL is checked first, so a bad one is reported even without --yes.
    redisUrl(command, io);
    const before = parseTime(options.before ?? 'now', '--before', Date.now());
    if (options.yes !== true) {
      throw new CliError('revoke all refuses every token of every client: add --yes to confirm', 2);
    }
    await withLifecycle(command, io, options, ({ admin, actor }) =>
      guarded(async () => {
        await admin.revokeAll({ before, actor, reason: options.reason });
        print(
          command,
          io,
          { revoked: 'all', before },
          () => `Every token issued at or before ${isoTime(before)} is refused.`,
        );
      }),
    );
  });
}

/** Most bytes read from standard input for `--secret -`: a JWT fits many times over. */
const MAX_SECRET_BYTES = 64 * 1024;

/**
 * The secret on standard input, without surrounding white space or a `Bearer ` prefix. Refuses
 * an empty input and one over {@link MAX_SECRET_BYTES}; never puts the input in a message.
 */
async function readSecret(io: CliIo): Promise<string> {
  const input = io.stdin ?? process.stdin;
  if ((input as { isTTY?: boolean }).isTTY === true) {
    io.stderr.write('Paste the secret, then press Enter and Ctrl-D:\n');
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of input) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += bytes.length;
    if (size > MAX_SECRET_BYTES) {
      throw new CliError(
        `standard input holds more than ${MAX_SECRET_BYTES / 1024} KiB: pipe in the secret alone`,
        2,
      );
    }
    chunks.push(bytes);
  }
  const text = Buffer.concat(chunks)
    .toString('utf8')
    .trim()
    .replace(/^bearer\s+/i, '');
  if (text === '') throw new CliError('no secret on standard input: pipe it in', 2);
  if (/\s/.test(text)) {
    throw new CliError(
      'standard input holds more than one word: pipe in one API key, refresh token or JWT',
      2,
    );
  }
  return text;
}

/** What a secret is, from its shape alone; never includes the secret. */
type SecretKind =
  | { readonly kind: 'api_key' | 'refresh_token' }
  | {
      readonly kind: 'jwt';
      readonly tokenId: string;
      readonly subject?: string;
      readonly client?: string;
      readonly expiresAt?: number;
    };

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function secretKind(secret: string): SecretKind {
  if (/^tw[kr]_/.test(secret)) {
    const parsed = parseCredential(secret);
    if (!parsed.ok) {
      throw new CliError(
        parsed.error === 'checksum'
          ? 'the secret looks like a Tokenwarden API key or refresh token, but its checksum does not match: check it was copied whole'
          : 'the secret looks like a Tokenwarden API key or refresh token, but is not well formed: check it was copied whole',
        2,
      );
    }
    return { kind: parsed.value.type === 'twk' ? 'api_key' : 'refresh_token' };
  }
  if (!JWT_SHAPE.test(secret)) {
    throw new CliError(
      'the secret is neither a Tokenwarden API key (twk_…), a refresh token (twr_…) nor a JWT',
      2,
    );
  }
  let claims: unknown;
  try {
    claims = JSON.parse(Buffer.from(secret.split('.')[1]!, 'base64url').toString('utf8'));
  } catch {
    // The parser's message may quote the payload: it is not passed on.
    throw new CliError('the JWT payload is not JSON: check the token was copied whole', 2);
  }
  if (claims === null || typeof claims !== 'object' || Array.isArray(claims)) {
    throw new CliError('the JWT payload is not a JSON object', 2);
  }
  const c = claims as Record<string, unknown>;
  const text = (value: unknown) =>
    typeof value === 'string' && value !== '' && value.length <= 1024 ? value : undefined;
  const tokenId = text(c.jti);
  if (tokenId === undefined) {
    throw new CliError(
      'the JWT has no jti, so it cannot be revoked alone: revoke its subject or client (revoke subject|client <id>)',
      2,
    );
  }
  const subject = text(c.sub);
  const client = text(c.client_id) ?? text(c.azp);
  const exp = typeof c.exp === 'number' && Number.isFinite(c.exp) ? c.exp * 1000 : undefined;
  return {
    kind: 'jwt',
    tokenId,
    ...(subject !== undefined ? { subject } : {}),
    ...(client !== undefined ? { client } : {}),
    ...(exp !== undefined ? { expiresAt: exp } : {}),
  };
}

/**
 * Revokes what the secret is, found by its hash (API keys, refresh tokens) or its `jti` (JWTs,
 * whose signature is not checked: revoking an id refuses nothing else). Audited by the admin.
 */
async function revokeSecret(
  command: Command,
  io: CliIo,
  { admin, credentials, actor }: Lifecycle,
  secret: string,
  kind: SecretKind,
  reason: string | undefined,
): Promise<void> {
  if (kind.kind === 'jwt') {
    await admin.revokeToken(kind.tokenId, { expiresAt: kind.expiresAt, actor, reason });
    print(
      command,
      io,
      {
        revoked: 'token',
        tokenId: kind.tokenId,
        ...(kind.subject !== undefined ? { subject: kind.subject } : {}),
        ...(kind.client !== undefined ? { client: kind.client } : {}),
        ...(kind.expiresAt !== undefined ? { expiresAt: kind.expiresAt } : {}),
      },
      () =>
        `JWT ${kind.tokenId}${kind.subject !== undefined ? ` of subject ${kind.subject}` : ''}${kind.client !== undefined ? ` (client ${kind.client})` : ''} revoked; its signature was not checked.`,
    );
    return;
  }
  // Found by hash, as the secret-scanning endpoint and the exposure check find it (core's leaks).
  const found = await findStoredCredential(secret, credentials);
  if (found === undefined || found.kind !== kind.kind) {
    throw new CliError(
      kind.kind === 'api_key'
        ? 'no API key with this hash in the store: it may have expired and been removed, or belong to another deployment (check --redis-url and --prefix)'
        : 'no refresh token with this hash in the store: its family may have ended and been removed, or belong to another deployment (check --redis-url and --prefix)',
      1,
    );
  }
  const revoked = await revokeStoredCredential(
    found,
    { store: credentials, revoker: admin, audit: admin },
    { actor, reason },
  );
  if (!revoked) {
    throw new CliError('the credential was removed from the store before it could be revoked', 1);
  }
  if (found.kind === 'api_key') {
    const record = found.record;
    print(
      command,
      io,
      { revoked: 'api_key', keyId: record.keyId, client: record.client, subject: record.subject },
      () => `API key ${record.keyId} of client ${record.client} revoked.`,
    );
    return;
  }
  const family = found.family;
  print(
    command,
    io,
    {
      revoked: 'refresh_family',
      familyId: family.familyId,
      client: family.client,
      subject: family.subject,
    },
    () =>
      `Refresh-token family ${family.familyId} of client ${family.client} revoked, with the access tokens issued from it.`,
  );
}
