import { readFileSync } from 'node:fs';
import {
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
} from 'yaml';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors';
import { masterKey, type MasterKey } from '../issue/envelope';
import type { SecretRef, SecretSource } from '../issue/secrets';
import type { SigningAlgorithm } from '../issue/signing-keys';
import type { IssuerClient } from '../issue/token-issuer';
import type { KeySelector, VerificationKey } from '../verify/key-ring';
import type { LawfulBasis } from './requirement';
import type { WardenOptions } from './options';
import { policySchema, type PolicyDocument } from './schema';

/** One finding of {@link checkPolicy}: where, how bad, what is wrong and how to fix it. */
export interface PolicyDiagnostic {
  readonly severity: 'error' | 'warning';
  /** 1-based line and column in the file. */
  readonly line: number;
  readonly column: number;
  /** Dotted path of the offending value, e.g. `clients.crm.scopes[1]`. */
  readonly path: string;
  /** What is wrong and what to change. */
  readonly message: string;
}

/** A scope: what it allows and the personal data it reaches. */
export interface PolicyScope {
  readonly description: string;
  readonly dataCategories: readonly string[];
}

/** A purpose of processing and its lawful basis. */
export interface PolicyPurpose {
  readonly description: string;
  readonly lawfulBasis: LawfulBasis | 'consent';
}

/** A client after validation; durations in ms. */
export interface PolicyClient {
  readonly description?: string;
  readonly scopes: readonly string[];
  readonly maxTokenLifetimeMs: number;
  readonly apiKeyMaxAgeMs: number;
  readonly rotationPeriodMs?: number;
  readonly secret?: SecretRef;
  /** Receives a refresh token with client_credentials (see `refreshTokenClientsFromPolicy`). */
  readonly refreshTokens: boolean;
}

/** A route the policy documents, with what it requires. */
export interface PolicyRoute {
  readonly method: string;
  readonly path: string;
  readonly scopes: readonly string[];
  readonly purpose?: string;
  readonly lawfulBasis?: LawfulBasis;
}

/** A validated policy; every duration in ms. It holds references to secrets, never secrets. */
export interface Policy {
  readonly issuer: string;
  readonly audience: string | readonly string[];
  readonly limits: {
    readonly maxTokenLifetimeMs: number;
    readonly maxApiKeyAgeMs: number;
    readonly clockToleranceMs: number;
    /** Idle timeout of a refresh token. */
    readonly refreshTokenLifetimeMs: number;
    /** Absolute lifetime of a refresh-token family. */
    readonly refreshFamilyLifetimeMs: number;
  };
  readonly signing: {
    readonly algorithm: SigningAlgorithm;
    readonly rotationPeriodMs?: number;
    readonly activationDelayMs: number;
    readonly masterKey?: SecretRef;
    readonly previousMasterKeys: readonly SecretRef[];
  };
  readonly scopes: Readonly<Record<string, PolicyScope>>;
  readonly purposes: Readonly<Record<string, PolicyPurpose>>;
  readonly clients: Readonly<Record<string, PolicyClient>>;
  readonly routes?: readonly PolicyRoute[];
}

/** The result of {@link checkPolicy}: the policy when it has no errors, and every finding. */
export interface PolicyCheckResult {
  readonly policy?: Policy;
  readonly diagnostics: readonly PolicyDiagnostic[];
}

const UNITS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A policy duration (`'15m'`, or a number of seconds) in ms. */
export function durationMs(value: string | number): number {
  if (typeof value === 'number') return value * 1000;
  const match = /^(\d+)(ms|s|m|h|d)$/.exec(value);
  if (!match) throw new ConfigError(`'${value}' is not a duration like 15m`);
  return Number(match[1]) * (UNITS[match[2] as string] as number);
}

type Path = readonly (string | number)[];

/**
 * Parses and lints a policy (YAML or JSON text). Every finding names its line and column and
 * says how to fix it: schema mistakes, unknown scopes and purposes, lifetimes above the global
 * cap, scopes no route or client uses, scopes without data categories.
 */
export function checkPolicy(text: string): PolicyCheckResult {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const diagnostics: PolicyDiagnostic[] = [];
  const at = (path: Path, severity: PolicyDiagnostic['severity'], message: string) => {
    const { line, column } = locate(doc, lineCounter, path);
    diagnostics.push({ severity, line, column, path: formatPath(path), message });
  };
  for (const error of doc.errors) {
    const pos = lineCounter.linePos(error.pos[0]);
    diagnostics.push({
      severity: 'error',
      line: pos.line,
      column: pos.col,
      path: '',
      message: `${error.message.split('\n')[0]}; fix the YAML/JSON syntax`,
    });
  }
  if (doc.errors.length > 0) return { diagnostics };

  const parsed = policySchema.safeParse(doc.toJS());
  if (!parsed.success) {
    for (const issue of (parsed.error as ZodError).issues) {
      const path = issue.path.filter((p): p is string | number => typeof p !== 'symbol');
      const keys = issue.code === 'unrecognized_keys' ? issue.keys : [];
      if (keys.length > 0) {
        for (const key of keys) {
          at([...path, key], 'error', `unknown field '${key}'; remove it or fix its name`);
        }
      } else {
        at(path, 'error', issue.message);
      }
    }
    return { diagnostics: sorted(diagnostics) };
  }
  const raw = parsed.data;
  const policy = resolve(raw);
  lint(raw, policy, at);
  const result = sorted(diagnostics);
  return result.some((d) => d.severity === 'error')
    ? { diagnostics: result }
    : { policy, diagnostics: result };
}

function lint(
  raw: PolicyDocument,
  policy: Policy,
  at: (path: Path, severity: PolicyDiagnostic['severity'], message: string) => void,
): void {
  const scopeNames = Object.keys(policy.scopes);
  const unknownScope = (path: Path, scope: string) =>
    at(
      path,
      'error',
      `unknown scope '${scope}'; declare it under scopes${suggest(scope, scopeNames)}`,
    );
  const cap = policy.limits.maxTokenLifetimeMs;
  const clientsUsing = new Set<string>();
  for (const [id, client] of Object.entries(raw.clients)) {
    client.scopes.forEach((scope, i) => {
      clientsUsing.add(scope);
      if (!(scope in policy.scopes)) unknownScope(['clients', id, 'scopes', i], scope);
    });
    const resolved = policy.clients[id] as PolicyClient;
    if (client.maxTokenLifetime !== undefined && resolved.maxTokenLifetimeMs > cap) {
      at(
        ['clients', id, 'maxTokenLifetime'],
        'error',
        `maximum token lifetime ${String(client.maxTokenLifetime)} is above the global cap limits.maxTokenLifetime (${String(raw.limits.maxTokenLifetime)}); lower it to at most ${String(raw.limits.maxTokenLifetime)}`,
      );
    }
    if (
      client.apiKeyMaxAge !== undefined &&
      resolved.apiKeyMaxAgeMs > policy.limits.maxApiKeyAgeMs
    ) {
      at(
        ['clients', id, 'apiKeyMaxAge'],
        'error',
        `API-key maximum age ${String(client.apiKeyMaxAge)} is above limits.maxApiKeyAge (${String(raw.limits.maxApiKeyAge)}); lower it`,
      );
    }
    if (client.refreshTokens === true && client.secret === undefined) {
      at(
        ['clients', id, 'refreshTokens'],
        'error',
        `client '${id}' receives refresh tokens but has no secret: the token endpoint authenticates every refresh; add secret: { env: ... }`,
      );
    }
    if (
      resolved.rotationPeriodMs !== undefined &&
      resolved.rotationPeriodMs > resolved.apiKeyMaxAgeMs
    ) {
      at(
        ['clients', id, 'rotationPeriod'],
        'warning',
        `rotation period ${String(client.rotationPeriod)} is longer than the API-key maximum age; keys would expire before they rotate: shorten it`,
      );
    }
  }
  const routesUsing = new Set<string>();
  raw.routes?.forEach((route, r) => {
    route.scopes.forEach((scope, i) => {
      routesUsing.add(scope);
      if (!(scope in policy.scopes)) unknownScope(['routes', r, 'scopes', i], scope);
    });
    if (route.purpose !== undefined && !(route.purpose in policy.purposes)) {
      at(
        ['routes', r, 'purpose'],
        'error',
        `unknown purpose '${route.purpose}'; declare it under purposes${suggest(route.purpose, Object.keys(policy.purposes))}`,
      );
    }
    if (
      route.purpose === undefined &&
      route.lawfulBasis === undefined &&
      route.scopes.some((s) => (policy.scopes[s]?.dataCategories.length ?? 0) > 0)
    ) {
      at(
        ['routes', r],
        'warning',
        'the route reaches personal data but names no purpose or lawful basis; add purpose or lawfulBasis',
      );
    }
  });
  for (const [name, scope] of Object.entries(raw.scopes)) {
    if (scope.dataCategories === undefined) {
      at(
        ['scopes', name],
        'warning',
        `scope '${name}' does not say which personal data it reaches; add dataCategories (an empty list if none)`,
      );
    }
    if (raw.routes !== undefined && !routesUsing.has(name)) {
      at(
        ['scopes', name],
        'warning',
        `scope '${name}' is used by no route; remove it or add it to the route that needs it`,
      );
    }
    if (!clientsUsing.has(name)) {
      at(
        ['scopes', name],
        'warning',
        `scope '${name}' is granted to no client; remove it or grant it to a client`,
      );
    }
  }
  if (policy.limits.refreshTokenLifetimeMs > policy.limits.refreshFamilyLifetimeMs) {
    at(
      ['limits', 'refreshTokenLifetime'],
      'warning',
      `limits.refreshTokenLifetime (${String(raw.limits.refreshTokenLifetime)}) is longer than limits.refreshFamilyLifetime (${String(raw.limits.refreshFamilyLifetime)}), which caps it; shorten it`,
    );
  }
  if (raw.signing.rotationPeriod === undefined) {
    at(
      ['signing'],
      'warning',
      'no signing.rotationPeriod: keys rotate only by command; set one, e.g. 30d',
    );
  } else if ((policy.signing.rotationPeriodMs as number) <= policy.signing.activationDelayMs) {
    at(
      ['signing', 'rotationPeriod'],
      'error',
      'signing.rotationPeriod must be longer than signing.activationDelay',
    );
  }
}

/** Builds the {@link Policy} from a schema-valid document. */
function resolve(raw: PolicyDocument): Policy {
  const maxTokenLifetimeMs = durationMs(raw.limits.maxTokenLifetime);
  const maxApiKeyAgeMs = durationMs(raw.limits.maxApiKeyAge);
  const clients: Record<string, PolicyClient> = {};
  for (const [id, c] of Object.entries(raw.clients)) {
    clients[id] = {
      ...(c.description !== undefined ? { description: c.description } : {}),
      scopes: c.scopes,
      maxTokenLifetimeMs:
        c.maxTokenLifetime !== undefined ? durationMs(c.maxTokenLifetime) : maxTokenLifetimeMs,
      apiKeyMaxAgeMs: c.apiKeyMaxAge !== undefined ? durationMs(c.apiKeyMaxAge) : maxApiKeyAgeMs,
      ...(c.rotationPeriod !== undefined ? { rotationPeriodMs: durationMs(c.rotationPeriod) } : {}),
      ...(c.secret !== undefined ? { secret: c.secret as SecretRef } : {}),
      refreshTokens: c.refreshTokens === true,
    };
  }
  const scopes: Record<string, PolicyScope> = {};
  for (const [n, s] of Object.entries(raw.scopes)) {
    scopes[n] = { description: s.description, dataCategories: s.dataCategories ?? [] };
  }
  const purposes: Record<string, PolicyPurpose> = {};
  for (const [n, p] of Object.entries(raw.purposes)) {
    purposes[n] = {
      description: p.description,
      lawfulBasis: p.lawfulBasis as PolicyPurpose['lawfulBasis'],
    };
  }
  return {
    issuer: raw.issuer,
    audience: raw.audience,
    limits: {
      maxTokenLifetimeMs,
      maxApiKeyAgeMs,
      clockToleranceMs: durationMs(raw.limits.clockTolerance),
      refreshTokenLifetimeMs: durationMs(raw.limits.refreshTokenLifetime),
      refreshFamilyLifetimeMs: durationMs(raw.limits.refreshFamilyLifetime),
    },
    signing: {
      algorithm: raw.signing.algorithm as SigningAlgorithm,
      ...(raw.signing.rotationPeriod !== undefined
        ? { rotationPeriodMs: durationMs(raw.signing.rotationPeriod) }
        : {}),
      activationDelayMs: durationMs(raw.signing.activationDelay),
      ...(raw.signing.masterKey !== undefined
        ? { masterKey: raw.signing.masterKey as SecretRef }
        : {}),
      previousMasterKeys: (raw.signing.previousMasterKeys ?? []) as SecretRef[],
    },
    scopes,
    purposes,
    clients,
    ...(raw.routes !== undefined
      ? {
          routes: raw.routes.map((r) => {
            const [method, path] = r.route.split(' ') as [string, string];
            return {
              method,
              path,
              scopes: r.scopes,
              ...(r.purpose !== undefined ? { purpose: r.purpose } : {}),
              ...(r.lawfulBasis !== undefined ? { lawfulBasis: r.lawfulBasis as LawfulBasis } : {}),
            };
          }),
        }
      : {}),
  };
}

/** Formats a finding as `file:line:col: severity path: message`. */
export function formatDiagnostic(file: string, d: PolicyDiagnostic): string {
  return `${file}:${d.line}:${d.column}: ${d.severity}${d.path ? ` ${d.path}` : ''}: ${d.message}`;
}

/**
 * Reads and validates a policy file; throws a {@link ConfigError} listing every error (with line
 * numbers) when it has any. Warnings do not stop it.
 *
 * @example
 * const policy = loadPolicyFile('./tokenwarden.policy.yaml');
 */
export function loadPolicyFile(path: string): Policy {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `cannot read the policy file ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  const result = checkPolicy(text);
  if (result.policy === undefined) {
    const errors = result.diagnostics.filter((d) => d.severity === 'error');
    throw new ConfigError(
      `policy file ${path} has ${errors.length} error(s); run 'tokenwarden policy check ${path}':\n` +
        errors.map((d) => formatDiagnostic(path, d)).join('\n'),
    );
  }
  return result.policy;
}

/** What a warden needs besides the policy: keys (never in the policy) and runtime parts. */
export type PolicyWardenParts = Omit<WardenOptions, 'jwt' | 'purposes'> & {
  /**
   * Verification keys, e.g. `keyFromFile(...)`, or a key selector that follows rotations: a
   * `SigningKeyRing` (the policy's `signing.algorithm` is then the one allowed).
   */
  readonly keys: readonly VerificationKey[] | KeySelector;
};

/**
 * Warden options driven by the policy: issuer, audience, the signing algorithm, the global
 * lifetime cap, clock tolerance and the purposes; keys and runtime parts come from `parts`.
 */
export function wardenOptionsFromPolicy(policy: Policy, parts: PolicyWardenParts): WardenOptions {
  const { keys, ...rest } = parts;
  const purposes: Record<string, { description: string }> = {};
  for (const [name, p] of Object.entries(policy.purposes))
    purposes[name] = { description: p.description };
  return {
    ...rest,
    jwt: {
      algorithms: [policy.signing.algorithm],
      keys,
      issuer: policy.issuer,
      audience: policy.audience,
      maxLifetimeMs: policy.limits.maxTokenLifetimeMs,
      clockToleranceMs: policy.limits.clockToleranceMs,
    },
    purposes,
  };
}

/** The issuer's clients (allowed scopes and lifetimes) from the policy. */
export function issuerClientsFromPolicy(policy: Policy): Record<string, IssuerClient> {
  const out: Record<string, IssuerClient> = {};
  for (const [id, c] of Object.entries(policy.clients)) {
    out[id] = { scopes: c.scopes, maxTokenLifetimeMs: c.maxTokenLifetimeMs };
  }
  return out;
}

/** The clients that receive a refresh token with client_credentials (`refreshTokens: true`). */
export function refreshTokenClientsFromPolicy(policy: Policy): string[] {
  return Object.entries(policy.clients)
    .filter(([, c]) => c.refreshTokens)
    .map(([id]) => id);
}

/**
 * `RefreshTokens` lifetimes from the policy: `limits.refreshTokenLifetime` (idle timeout) and
 * `limits.refreshFamilyLifetime` (absolute, from the sign-in).
 *
 * @example
 * const refreshTokens = new RefreshTokens({ store, revoker: warden, audit: warden, ...refreshTokenOptionsFromPolicy(policy) });
 */
export function refreshTokenOptionsFromPolicy(policy: Policy): {
  tokenTtlMs: number;
  familyTtlMs: number;
} {
  return {
    tokenTtlMs: policy.limits.refreshTokenLifetimeMs,
    familyTtlMs: policy.limits.refreshFamilyLifetimeMs,
  };
}

/** Reads each client's secret through `secrets` (clients without one are left out). */
export async function clientSecretsFromPolicy(
  policy: Policy,
  secrets: SecretSource,
): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const [id, c] of Object.entries(policy.clients)) {
    if (c.secret !== undefined) out[id] = await secrets.read(c.secret);
  }
  return out;
}

/** The master key (and previous ones) that encrypt shared signing keys, read through `secrets`. */
export async function masterKeysFromPolicy(
  policy: Policy,
  secrets: SecretSource,
): Promise<{ current: MasterKey; previous: MasterKey[] }> {
  if (policy.signing.masterKey === undefined) {
    throw new ConfigError(
      'the policy names no signing.masterKey; add { env: TOKENWARDEN_MASTER_KEY } or { file: /path }',
    );
  }
  const current = masterKey(await secrets.read(policy.signing.masterKey), 'signing.masterKey');
  const previous: MasterKey[] = [];
  for (const ref of policy.signing.previousMasterKeys) {
    previous.push(masterKey(await secrets.read(ref), 'signing.previousMasterKeys'));
  }
  return { current, previous };
}

function sorted(list: PolicyDiagnostic[]): PolicyDiagnostic[] {
  return list.sort((a, b) => a.line - b.line || a.column - b.column);
}

function formatPath(path: Path): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? p : `.${p}`;
  return out;
}

/** Line and column of the node at `path`, or of its nearest ancestor that exists. */
function locate(doc: Document, counter: LineCounter, path: Path): { line: number; column: number } {
  let node: unknown = doc.contents;
  let offset = (doc.contents as Node | null)?.range?.[0] ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment),
      );
      if (!pair) break;
      const keyNode = pair.key as Node;
      offset = keyNode.range?.[0] ?? offset;
      node = pair.value;
      if (isScalar(node) || isMap(node) || isSeq(node))
        offset = (node as Node).range?.[0] ?? offset;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (!item) break;
      node = item;
      offset = (item as Node).range?.[0] ?? offset;
    } else {
      break;
    }
  }
  const pos = counter.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/** `; did you mean 'x'?` for the closest known name within two edits, else ''. */
function suggest(value: string, known: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = distance(value, candidate);
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : ` or fix the name (did you mean '${best}'?)`;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const temp = row[j] as number;
      row[j] = Math.min(
        (row[j] as number) + 1,
        (row[j - 1] as number) + 1,
        prev + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      prev = temp;
    }
  }
  return row[b.length] as number;
}
