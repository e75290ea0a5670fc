import { ConfigError } from '../errors';
import { hasControlChar, isSafeId } from '../internal/text';
import type { VerifyDetail } from './details';

/**
 * How the `scope` claim may be written: `'string'`, space-delimited (RFC 9068 §2.2.3, RFC 8693
 * §4.2); `'string-or-array'`, also a JSON list of names (as some servers issue it).
 */
export type ScopeClaimFormat = 'string' | 'string-or-array';

/**
 * How a verifier reads identity-provider claims; every field is optional and the defaults are
 * the strict profile (RFC 9068): `jti` required, `scope` a string, `aud` the audience, the client
 * from `client_id` or `azp`, no further scope claims.
 */
export interface ClaimProfile {
  /**
   * Further claims holding scopes, added to `scope`: a claim name (`'permissions'`,
   * `'https://example.com/roles'`), a JSON Pointer (RFC 6901) into nested objects when it starts
   * with `/` (`'/realm_access/roles'`), or a list of them. Each value may be a list of names or a
   * space-delimited string; an absent claim adds nothing.
   */
  readonly permissionsClaim?: string | readonly string[];
  /**
   * Refuse tokens without `jti` (`token_claims_invalid`). When `false`, such a token's id is
   * `sha256:` and the base64url SHA-256 of the token: it shows in the audit trail and can be
   * revoked by that id, but nobody who only knows the token's claims can name it.
   */
  readonly requireTokenId?: boolean;
  /** How `scope` may be written. */
  readonly scopeClaimFormat?: ScopeClaimFormat;
  /**
   * The claim checked against `audience`: `'aud'`, or e.g. `'client_id'` for Amazon Cognito
   * access tokens, which carry no `aud`. A string or a list of strings.
   */
  readonly audienceClaim?: string;
  /** The claim naming the client (`'cid'` for Okta, `'appid'` for Entra ID v1 tokens). */
  readonly clientClaim?: string;
}

/** A {@link ClaimProfile} with its defaults applied. */
export interface ResolvedClaimProfile {
  readonly permissionsClaim: string | readonly string[] | undefined;
  readonly requireTokenId: boolean;
  readonly scopeClaimFormat: ScopeClaimFormat;
  readonly audienceClaim: string;
  readonly clientClaim: string | undefined;
}

const SCOPE_FORMATS: readonly ScopeClaimFormat[] = ['string', 'string-or-array'];

/**
 * A {@link ClaimProfile} after validation, defaults applied, for the JWT verifier. Throws
 * {@link ConfigError} naming `${prefix}<option>`.
 */
export function resolveClaimProfile(
  profile: ClaimProfile,
  prefix: string,
  fallback: ClaimProfile = {},
): ResolvedClaimProfile {
  const pick = <K extends keyof ClaimProfile>(key: K): ClaimProfile[K] =>
    profile[key] === undefined ? fallback[key] : profile[key];
  const requireTokenId = pick('requireTokenId') ?? true;
  if (typeof requireTokenId !== 'boolean') {
    throw new ConfigError(`${prefix}requireTokenId must be true or false`);
  }
  const scopeClaimFormat = pick('scopeClaimFormat') ?? 'string';
  if (!SCOPE_FORMATS.includes(scopeClaimFormat)) {
    throw new ConfigError(
      `${prefix}scopeClaimFormat must be ${SCOPE_FORMATS.map((f) => `'${f}'`).join(' or ')}`,
    );
  }
  const audienceClaim = pick('audienceClaim') ?? 'aud';
  claimName(audienceClaim, `${prefix}audienceClaim`);
  const clientClaim = pick('clientClaim');
  if (clientClaim !== undefined) claimName(clientClaim, `${prefix}clientClaim`);
  const permissionsClaim = pick('permissionsClaim');
  if (permissionsClaim !== undefined) {
    const names: readonly unknown[] = Array.isArray(permissionsClaim)
      ? permissionsClaim
      : [permissionsClaim];
    if (names.length === 0) {
      throw new ConfigError(`${prefix}permissionsClaim must name at least one claim`);
    }
    for (const name of names) claimName(name, `${prefix}permissionsClaim`, true);
  }
  return { requireTokenId, scopeClaimFormat, audienceClaim, clientClaim, permissionsClaim };
}

function claimName(name: unknown, option: string, pointers = false): void {
  if (!isSafeId(name, 256)) {
    throw new ConfigError(`${option} must be a claim name, e.g. 'permissions'`);
  }
  if (name.startsWith('/') && (!pointers || pointerOf(name).some((part) => part === ''))) {
    throw new ConfigError(
      pointers
        ? `${option}: '${name}' is not a JSON Pointer to a claim; write e.g. '/realm_access/roles'`
        : `${option} must be a top-level claim name, without '/'`,
    );
  }
}

/** The reference tokens of a JSON Pointer (RFC 6901 §4), unescaped. */
function pointerOf(pointer: string): string[] {
  return pointer
    .slice(1)
    .split('/')
    .map((part) => part.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A claim's value by name, or by JSON Pointer when the name starts with `/`; own members only. */
export function claimAt(claims: Readonly<Record<string, unknown>>, name: string): unknown {
  if (!name.startsWith('/')) return own(claims, name);
  let value: unknown = claims;
  for (const part of pointerOf(name)) {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
    value = own(value as Record<string, unknown>, part);
  }
  return value;
}

function own(object: Readonly<Record<string, unknown>>, name: string): unknown {
  return Object.prototype.hasOwnProperty.call(object, name) ? object[name] : undefined;
}

/** What the scope reader needs of a policy. */
export interface ScopeRules {
  readonly maxClaimLength: number;
  readonly permissionsClaim: string | readonly string[] | undefined;
  readonly scopeClaimFormat?: ScopeClaimFormat;
}

/**
 * The token's scopes: `scope` (space-delimited; a list too with `'string-or-array'`), then each
 * permissions claim (a list or a space-delimited string). A string holds at most
 * `maxClaimLength * 16` characters, no control characters; a list at most 1000 names, each 1 to
 * `maxClaimLength` characters without spaces or control characters. Names from the permissions
 * claims are listed once. Or, when a claim breaks these rules, why.
 */
export function readScopes(
  claims: Readonly<Record<string, unknown>>,
  rules: ScopeRules,
): readonly string[] | VerifyDetail {
  const out: string[] = [];
  const scope = own(claims, 'scope');
  if (scope !== undefined) {
    const lists = rules.scopeClaimFormat === 'string-or-array';
    if (!addNames(scope, out, rules.maxClaimLength, lists)) {
      return lists
        ? 'scope is neither a space-delimited string nor a list of scope names'
        : 'scope is not a space-delimited string (scopeClaimFormat)';
    }
  }
  const permissions = rules.permissionsClaim;
  if (permissions === undefined) return out;
  const scopeCount = out.length;
  for (const name of typeof permissions === 'string' ? [permissions] : permissions) {
    const value = claimAt(claims, name);
    if (value !== undefined && !addNames(value, out, rules.maxClaimLength, true)) {
      return 'permissionsClaim: a claim is neither a list of scope names nor a space-delimited string';
    }
  }
  // A name granted twice (in `scope` and a role claim, say) is listed once.
  return out.length === scopeCount ? out : [...new Set(out)];
}

function addNames(value: unknown, out: string[], max: number, lists: boolean): boolean {
  if (typeof value === 'string') {
    if (value.length > max * 16 || hasControlChar(value)) return false;
    for (const name of value.split(' ')) if (name !== '') out.push(name);
    return true;
  }
  if (!lists || !Array.isArray(value) || value.length > 1000) return false;
  for (const name of value as unknown[]) {
    if (!isSafeId(name, max) || name.includes(' ')) return false;
    out.push(name);
  }
  return true;
}
