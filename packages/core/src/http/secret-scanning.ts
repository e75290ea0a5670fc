import { createHash, type KeyObject } from 'node:crypto';
import { ConfigError } from '../errors';
import { leakResponderOf } from '../leaks/registry';
import { RecentReports } from '../leaks/recent-reports';
import { auditText, factFields, type LeakResponder } from '../leaks/responder';
import { ScannerKeys } from '../leaks/scanner-keys';
import type { CredentialStore } from '../store/credential-types';
import type { Warden } from '../warden';
import type { HandlerAnswer } from './answers';

/** Options of {@link SecretScanning} and the adapters' `secretScanningHandler`. */
export interface SecretScanningOptions {
  /** The warden whose credentials are looked up and revoked, and whose audit trail is written. */
  readonly warden: Warden;
  /**
   * The scanner's public keys by key identifier (the `Github-Public-Key-Identifier` header): PEM
   * text or a `KeyObject`, ECDSA P-256. Configured, never fetched while a report waits: copy them
   * from the scanner (GitHub publishes them at `https://api.github.com/meta/public_keys/secret_scanning`)
   * and add the new one before the scanner starts signing with it. Required.
   */
  readonly publicKeys: Readonly<Record<string, string | KeyObject>>;
  /**
   * Where API keys and refresh-token families are looked up by hash. Default: the warden's
   * `apiKeys.store`; without either, only JWTs can be recognised.
   */
  readonly credentials?: CredentialStore;
  /** Largest report accepted, in bytes, checked before anything is parsed. Default: 65536. */
  readonly maxBodyBytes?: number;
  /** How long an accepted report is remembered to refuse a replay, in ms. Default: 3600000. */
  readonly replayWindowMs?: number;
  /** Most reports remembered at once (oldest forgotten first). Default: 10000. */
  readonly replayCacheEntries?: number;
  /** The `actor` of the revocations and `credential.leaked` events. Default: `'secret-scanning'`. */
  readonly actor?: string;
}

/** A report as the adapters hand it over: method, headers and the raw body. */
export interface ScanningRequest {
  readonly method: string;
  header(name: string): string | undefined;
  /** The raw body, exactly as received (the signature covers these bytes). */
  readonly body: Buffer;
}

/** One match of a report (GitHub secret-scanning partner format). */
interface ReportedToken {
  readonly token: string;
  readonly type: string;
  readonly url: string | undefined;
  readonly source: string | undefined;
}

/** The verdict on one reported token (the partner format's `label`). */
type Label = 'true_positive' | 'false_positive';

/** Reported tokens looked up at once: a large report neither waits on one look-up at a time nor floods the store. */
const CONCURRENCY = 8;

/** Default largest report, in bytes. */
export const MAX_REPORT_BYTES = 64 * 1024;
/** Longest token taken from a report: more than any JWT the warden accepts. */
const MAX_REPORTED_TOKEN_LENGTH = 16 * 1024;

const HEADERS = Object.freeze({
  'content-type': 'application/json',
  'cache-control': 'no-store',
});

/** A refusal: status and a stable error code, never an echo of the report. */
export function scanningRefusal(status: number, error: string, description: string): HandlerAnswer {
  return {
    status,
    headers: status === 405 ? { ...HEADERS, allow: 'POST' } : HEADERS,
    body: JSON.stringify({ error, error_description: description }),
  };
}

/**
 * A secret scanner's endpoint (the GitHub secret-scanning partner program's format): the scanner
 * POSTs a JSON list of `{ token, type, url, source }` it found in public code, signed with ECDSA
 * P-256 over the raw body (`Github-Public-Key-Identifier`, `Github-Public-Key-Signature`, base64
 * DER). Each token is looked for among the warden's credentials: an API key or refresh token by
 * SHA-256 hash, a JWT by its signature against the warden's own keys, issuer and audience. A live
 * one is revoked at once. The answer lists every token as `{ token_hash, token_type, label }`
 * (`token_hash`: SHA-256 hex of the token): `true_positive` for a credential of ours (revoked
 * now, or already revoked or expired), `false_positive` for anything else, which changes nothing
 * and writes no event. Each credential found writes one `credential.leaked` event with its
 * fingerprint, ids, whether it was revoked, and the report's `type`, `source` and `url`
 * (escaped, truncated); never the token.
 *
 * Refusals: 405 (not POST), 415 (not `application/json`), 413 (over `maxBodyBytes`, checked
 * before parsing), 401 (signature missing, unknown key or mismatch; a report already accepted
 * within `replayWindowMs`), 400 (not a list of matches), 503 (a store failed: the report can be
 * sent again).
 */
export class SecretScanning {
  private readonly keys: ScannerKeys;
  private readonly leaks: LeakResponder;
  private readonly recent: RecentReports;
  private readonly credentials: CredentialStore | undefined;
  private readonly actor: string;
  /** Largest report accepted, in bytes. */
  readonly maxBodyBytes: number;

  constructor(options: SecretScanningOptions) {
    const where = 'secret scanning';
    if (options === null || typeof options !== 'object') {
      throw new ConfigError(`${where} needs { warden, publicKeys }`);
    }
    this.leaks = leakResponderOf(options.warden, where);
    this.keys = new ScannerKeys(options.publicKeys, where);
    const max = options.maxBodyBytes ?? MAX_REPORT_BYTES;
    if (!Number.isInteger(max) || max <= 0) {
      throw new ConfigError(`${where}: maxBodyBytes must be a positive whole number of bytes`);
    }
    this.maxBodyBytes = max;
    this.recent = new RecentReports(
      options.replayWindowMs ?? 3_600_000,
      options.replayCacheEntries ?? 10_000,
      this.leaks.parts.clock,
    );
    this.credentials = options.credentials ?? this.leaks.parts.credentials;
    if (this.credentials !== undefined && typeof this.credentials.findApiKey !== 'function') {
      throw new ConfigError(`${where}: credentials must be a credential store`);
    }
    this.actor = auditText(options.actor ?? 'secret-scanning', 128) ?? 'secret-scanning';
  }

  /** Answers one report. Never rejects and never echoes a token. */
  async answer(request: ScanningRequest): Promise<HandlerAnswer> {
    const body = request.body;
    if (body.length > this.maxBodyBytes) {
      return scanningRefusal(
        413,
        'report_too_large',
        `a report is at most ${this.maxBodyBytes} bytes`,
      );
    }
    const signed = this.keys.verify(
      request.header('github-public-key-identifier'),
      request.header('github-public-key-signature'),
      body,
    );
    if (!signed) {
      return scanningRefusal(
        401,
        'signature_invalid',
        'the report is not signed by a configured key',
      );
    }
    const report = parseReport(body);
    if (report === undefined) {
      return scanningRefusal(
        400,
        'report_malformed',
        'expected a JSON list of { token, type, url, source }',
      );
    }
    const digest = createHash('sha256').update(body).digest('hex');
    if (!this.recent.claim(digest)) {
      return scanningRefusal(401, 'report_replayed', 'this report was accepted already');
    }
    try {
      // Each distinct token is handled once (one revocation, one event), a few at a time.
      const first = new Map<string, ReportedToken>();
      for (const match of report) if (!first.has(match.token)) first.set(match.token, match);
      const distinct = [...first.values()];
      const labels = new Map<string, Label>();
      for (let i = 0; i < distinct.length; i += CONCURRENCY) {
        const batch = distinct.slice(i, i + CONCURRENCY);
        const done = await Promise.all(batch.map((match) => this.label(match)));
        batch.forEach((match, j) => labels.set(match.token, done[j]!));
      }
      const verdicts = report.map((match) => ({
        token_hash: createHash('sha256').update(match.token, 'utf8').digest('hex'),
        token_type: match.type,
        label: labels.get(match.token)!,
      }));
      return { status: 200, headers: HEADERS, body: JSON.stringify(verdicts) };
    } catch (error) {
      this.recent.release(digest);
      this.leaks.parts.logError('a secret-scanning report could not be processed', error);
      return scanningRefusal(503, 'temporarily_unavailable', 'send the report again later');
    }
  }

  /** Identifies one reported token, revokes it when live and audits it; its verdict. */
  private async label(match: ReportedToken): Promise<Label> {
    const leaks = this.leaks;
    const found = await leaks.identify(match.token, this.credentials);
    if (found === undefined) return 'false_positive';
    const facts = leaks.facts(found);
    const revoked = await leaks.revoke(
      found,
      { actor: this.actor, reason: 'leaked' },
      this.credentials,
    );
    leaks.record({
      type: 'credential.leaked',
      outcome: 'success',
      reason: revoked ? 'revoked' : facts.live ? 'not_revoked' : 'not_live',
      tokenFingerprint: leaks.fingerprint(match.token),
      ...factFields(facts),
      actor: this.actor,
      detail: {
        kind: facts.kind,
        revoked,
        reportedType: auditText(match.type, 64) ?? '',
        ...optional('source', auditText(match.source, 64)),
        ...optional('url', auditText(match.url, 256)),
      },
    });
    return 'true_positive';
  }
}

function optional(name: string, value: string | undefined): Record<string, string> {
  return value === undefined ? {} : { [name]: value };
}

/** The report's matches, or undefined when it is not a list of `{ token, type, url?, source? }`. */
function parseReport(body: Buffer): ReportedToken[] | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed) || parsed.length === 0) return undefined;
  const out: ReportedToken[] = [];
  for (const item of parsed as unknown[]) {
    if (item === null || typeof item !== 'object' || Array.isArray(item)) return undefined;
    const { token, type, url, source } = item as Record<string, unknown>;
    if (typeof token !== 'string' || token === '' || token.length > MAX_REPORTED_TOKEN_LENGTH) {
      return undefined;
    }
    if (typeof type !== 'string' || type.length > 256) return undefined;
    if (url !== undefined && url !== null && typeof url !== 'string') return undefined;
    if (source !== undefined && source !== null && typeof source !== 'string') return undefined;
    out.push({
      token,
      type,
      url: typeof url === 'string' ? url : undefined,
      source: typeof source === 'string' ? source : undefined,
    });
  }
  return out;
}
