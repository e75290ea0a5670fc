import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import * as cli from '@tokenwarden/cli';
import * as core from '@tokenwarden/core';
import {
  ApiKeyError,
  EnvelopeError,
  IssueError,
  KeySourceError,
  TokenwardenError,
} from '@tokenwarden/core';
import * as redis from '@tokenwarden/redis';
import { SpoolFullError } from '../src/audit/spool';
import { deny } from '../src/decision';

const ROOT = join(__dirname, '..', '..', '..');
const CORE = join(ROOT, 'packages', 'core');

type ErrorClass = new (...args: unknown[]) => Error;

/**
 * How to make instances of every exported error class, with plausible arguments. A new exported
 * error class needs an entry here: the walk below fails until it has one.
 */
const INSTANCES: Readonly<Record<string, (C: ErrorClass) => readonly Error[]>> = {
  TokenwardenError: (C) => [new C('config_invalid', 'jwt.algorithms is required')],
  ConfigError: (C) => [new C('jwt.algorithms is required: list the accepted algorithms')],
  StoreUnavailableError: (C) => [new C('the store did not answer within 500 ms')],
  StoreCapacityError: (C) => [new C('MemoryStore holds 100000 revocations')],
  StoreNotReplicatedError: (C) => [new C('revokeToken', 0, { replicas: 1, timeoutMs: 1000 })],
  KeyLayoutMigrationError: (C) => [
    new C("the state of the 'single' layout is lost: restore it first"),
  ],
  StoreStateLostError: (C) => [
    new C('the epoch of the state is gone', { reason: 'lost', since: 1_700_000_000_000 }),
    new C('Redis holds no epoch', { reason: 'missing' }),
  ],
  AuditUnavailableError: (C) => [new C()],
  TokenwardenDenial: (C) =>
    (
      ['token_expired', 'insufficient_scope', 'claim_check_failed', 'store_unavailable'] as const
    ).map((code) => new C(deny(code, 'api'))),
  IssueError: (C) => [new C('invalid_scope', 'a requested scope is not allowed for this client')],
  ApiKeyError: (C) =>
    (['not_found', 'revoked', 'expired', 'replaced'] as const).map(
      (reason) => new C(reason, `API key 'ak_1' cannot be rotated (${reason})`),
    ),
  EnvelopeError: (C) => [new C('stored secret does not authenticate under master key mk-1')],
  SubjectKeyError: (C) => [
    new C('the key of a data subject cannot be opened: sealed with master key mk-1'),
  ],
  SigningKeyError: (C) =>
    (['tampered', 'rolled_back', 'malformed', 'unsealed'] as const).map(
      (reason) => new C(reason, `the stored signing key set was refused (${reason})`),
    ),
  KeySourceError: (C) => [new C('could not read the JWKS at auth.example.com: timeout', 'timeout')],
  AuditSourceError: (C) => [new C('/var/log/tokenwarden cannot be read')],
  CliError: (C) => [
    new C('--format must be one of text, json', 2),
    new C('audit verification failed', 1),
  ],
};

/**
 * The source of a subpath entry of core (`@tokenwarden/core/reports`): the file the TypeScript
 * paths map it to, else the one its package `exports` entry builds (`./dist/x.js` from
 * `src/x.ts`); undefined while the entry does not exist.
 */
function subpathSource(subpath: string): string | undefined {
  const name = `@tokenwarden/core/${subpath}`;
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as {
    compilerOptions?: { paths?: Record<string, string[]> };
  };
  const mapped = tsconfig.compilerOptions?.paths?.[name]?.[0];
  if (mapped !== undefined && existsSync(join(ROOT, mapped))) return join(ROOT, mapped);
  const manifest = JSON.parse(readFileSync(join(CORE, 'package.json'), 'utf8')) as {
    exports?: Record<string, unknown>;
  };
  const built = /\.\/dist\/([\w/-]+)\.c?js/.exec(
    JSON.stringify(manifest.exports?.[`./${subpath}`] ?? null),
  )?.[1];
  const file = built === undefined ? undefined : join(CORE, 'src', `${built}.ts`);
  return file !== undefined && existsSync(file) ? file : undefined;
}

/** The public entry points, loaded from source: packages' main entries and core's subpaths. */
async function entries(): Promise<{ name: string; exports: object }[]> {
  const out: { name: string; exports: object }[] = [
    { name: '@tokenwarden/core', exports: core },
    { name: '@tokenwarden/redis', exports: redis },
    { name: '@tokenwarden/cli', exports: cli },
  ];
  for (const subpath of ['reports', 'policy']) {
    const source = subpathSource(subpath);
    if (source !== undefined) {
      out.push({ name: `@tokenwarden/core/${subpath}`, exports: (await import(source)) as object });
    }
  }
  return out;
}

function isErrorClass(value: unknown): value is ErrorClass {
  return typeof value === 'function' && value.prototype instanceof Error;
}

/** The `## code` sections of docs/error-codes.md. */
function documentedCodes(): Set<string> {
  const text = readFileSync(join(ROOT, 'docs', 'error-codes.md'), 'utf8');
  return new Set([...text.matchAll(/^## ([a-z_]+)$/gm)].map((m) => m[1]!));
}

/** The members of the `ErrorCode` union, read from its source. */
function unionCodes(): string[] {
  const source = readFileSync(join(CORE, 'src', 'errors.ts'), 'utf8');
  const body = /export type ErrorCode =([^;]+);/.exec(source)?.[1] ?? '';
  return [...body.matchAll(/'([a-z_]+)'/g)].map((m) => m[1]!);
}

describe('the error family', () => {
  /** Every error class the public entries export, with where it was found first. */
  const classes = new Map<ErrorClass, string>();
  const docs = documentedCodes();

  beforeAll(async () => {
    for (const entry of await entries()) {
      for (const [name, value] of Object.entries(entry.exports)) {
        if (isErrorClass(value) && !classes.has(value)) classes.set(value, `${entry.name} ${name}`);
      }
    }
  });

  it('finds the error classes of the public entries', () => {
    const names = [...classes.keys()].map((C) => C.name);
    expect(names).toEqual(
      expect.arrayContaining([
        'TokenwardenError',
        'ConfigError',
        'TokenwardenDenial',
        'ApiKeyError',
        'IssueError',
        'KeySourceError',
        'CliError',
        ...(subpathSource('reports') === undefined ? [] : ['AuditSourceError']),
      ]),
    );
  });

  it('knows how to make every exported error class', () => {
    const missing = [...classes].filter(([C]) => INSTANCES[C.name] === undefined);
    expect(missing.map(([, where]) => where)).toEqual([]);
  });

  it('makes every exported error class extend TokenwardenError with a documented code', () => {
    const wrong: string[] = [];
    for (const [C, where] of classes) {
      const made = INSTANCES[C.name]?.(C) ?? [];
      for (const error of made) {
        const code = error instanceof TokenwardenError ? error.code : undefined;
        if (!(error instanceof TokenwardenError)) wrong.push(`${where}: not a TokenwardenError`);
        else if (!(error instanceof C) || error.name !== C.name) wrong.push(`${where}: name`);
        else if (!docs.has(code!)) wrong.push(`${where}: code ${code} has no docs section`);
      }
      if (INSTANCES[C.name] !== undefined && made.length === 0) wrong.push(`${where}: no instance`);
    }
    expect(wrong).toEqual([]);
  });

  it('documents every code of the ErrorCode union, and no other', () => {
    const codes = unionCodes();
    expect(codes.length).toBeGreaterThan(30);
    expect([...docs].sort()).toEqual([...new Set(codes)].sort());
  });
});

describe('codes of the errors outside a request', () => {
  it('IssueError: issue_refused, with the OAuth error kept in `error`', () => {
    const error = new IssueError('unauthorized_client', 'the client may not be issued tokens');
    expect([error.code, error.error]).toEqual(['issue_refused', 'unauthorized_client']);
  });

  it('ApiKeyError: one code per refusal; `reason` stays as the older spelling', () => {
    const made = (['not_found', 'revoked', 'expired', 'replaced'] as const).map(
      (reason) => new ApiKeyError(reason, 'refused'),
    );
    expect(made.map((e) => [e.code, e.reason])).toEqual([
      ['api_key_unknown', 'not_found'],
      ['api_key_revoked', 'revoked'],
      ['api_key_expired', 'expired'],
      ['api_key_replaced', 'replaced'],
    ]);
  });

  it('EnvelopeError: secret_unreadable, not a configuration mistake', () => {
    expect(new EnvelopeError('altered').code).toBe('secret_unreadable');
  });

  it('KeySourceError: key_source_unavailable, with its short reason and cause', () => {
    const cause = new Error('ECONNREFUSED');
    const error = new KeySourceError('could not read the JWKS', 'ECONNREFUSED', { cause });
    expect([error.code, error.reason, error.cause]).toEqual([
      'key_source_unavailable',
      'ECONNREFUSED',
      cause,
    ]);
  });

  it('SpoolFullError (internal to the audit trail): audit_spool_full', () => {
    const error = new SpoolFullError(1024);
    expect(error).toBeInstanceOf(TokenwardenError);
    expect([error.name, error.code]).toEqual(['SpoolFullError', 'audit_spool_full']);
  });
});
