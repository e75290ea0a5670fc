import { UNMATCHED_ROUTE } from '../audit/fields';
import { parseCredential } from '../internal/credential-format';
import type { ExposurePlace } from '../metrics/types';
import type { RequestView } from '../request';
import { auditText, factFields, type CredentialFacts, type LeakResponder } from './responder';

export type { ExposurePlace };

/**
 * What the warden does with a credential seen in a refused place: `'record'` counts it and writes
 * a `credential.exposed` event; `'revoke'` also revokes it at once (a JWT of the warden's own by
 * `jti` when its signature verifies, an API key or refresh token by hash).
 */
export type ExposureAction = 'record' | 'revoke';

/** The query parameter RFC 6750 §2.3 defines for bearer tokens. */
export const ACCESS_TOKEN_PARAMETER = 'access_token';

/** Most credentials taken from one request's query string; the rest are not looked at. */
const MAX_EXPOSED_PER_REQUEST = 4;

/** One credential found where it must not travel. */
export interface ExposedCredential {
  readonly secret: string;
  /** The query parameter it was in. */
  readonly parameter: string;
}

/**
 * The credentials in a URL's query string that the warden does not accept there: every value of
 * `access_token`, and any value shaped like a Tokenwarden API key or refresh token (`twk_…`,
 * `twr_…` with a valid checksum) whatever its parameter. `accepted` is the query parameter the
 * warden reads tokens from, if any (`credentials.queryParameter`): its values are not exposures.
 * Costs two or three `indexOf` calls on a URL that holds none; parses the query only when one is
 * there. At most {@link MAX_EXPOSED_PER_REQUEST} credentials, each at most `maxBytes` long.
 */
export function queryCredentials(
  url: string,
  accepted: string | undefined,
  maxBytes: number,
): ExposedCredential[] {
  const q = url.indexOf('?');
  if (q < 0) return NONE;
  if (
    url.indexOf(ACCESS_TOKEN_PARAMETER, q) < 0 &&
    url.indexOf('twk_', q) < 0 &&
    url.indexOf('twr_', q) < 0
  ) {
    return NONE;
  }
  const found: ExposedCredential[] = [];
  let params: URLSearchParams;
  try {
    params = new URLSearchParams(url.slice(q + 1));
  } catch {
    return NONE;
  }
  for (const [name, value] of params) {
    if (found.length >= MAX_EXPOSED_PER_REQUEST) break;
    if (name === accepted || value === '' || value.length > maxBytes) continue;
    const ours = value.startsWith('twk_') || value.startsWith('twr_');
    if (name === ACCESS_TOKEN_PARAMETER || (ours && parseCredential(value).ok)) {
      found.push({ secret: value, parameter: name });
    }
  }
  return found;
}

const NONE: ExposedCredential[] = [];

/** The exposure answer of the extract stage: counts, audits and (optionally) revokes. */
export class CredentialExposure {
  constructor(
    private readonly leaks: LeakResponder,
    readonly action: ExposureAction,
  ) {}

  /**
   * Reports credentials seen in `place`: one `tokenwarden_credential_exposed_total{place}` count
   * and one `credential.exposed` event each, with the keyed fingerprint and never the credential.
   * With `'revoke'`, each is identified and revoked first; the promise resolves once done (it
   * never rejects: a failure is logged and audited). With `'record'`: undefined, nothing waits.
   */
  report(
    exposed: readonly ExposedCredential[],
    place: ExposurePlace,
    view: RequestView,
  ): Promise<void> | undefined {
    if (this.action === 'record') {
      for (const one of exposed) this.recorded(one, place, view, 'recorded', undefined);
      return undefined;
    }
    return Promise.all(exposed.map((one) => this.revoked(one, place, view))).then(() => undefined);
  }

  private async revoked(one: ExposedCredential, place: ExposurePlace, view: RequestView) {
    const leaks = this.leaks;
    let facts: CredentialFacts | undefined;
    let action: string;
    try {
      const found = await leaks.identify(one.secret);
      if (found === undefined) {
        action = 'not_found';
      } else {
        facts = leaks.facts(found);
        const revoked = await leaks.revoke(found, { actor: 'tokenwarden', reason: 'exposed' });
        action = revoked ? 'revoked' : 'not_live';
      }
    } catch (error) {
      leaks.parts.logError('a credential exposed in a request could not be revoked', error);
      action = 'revoke_failed';
    }
    this.recorded(one, place, view, action, facts);
  }

  private recorded(
    one: ExposedCredential,
    place: ExposurePlace,
    view: RequestView,
    action: string,
    facts: CredentialFacts | undefined,
  ): void {
    const leaks = this.leaks;
    leaks.parts.metrics.credentialExposed?.(place);
    leaks.record({
      type: 'credential.exposed',
      outcome: action === 'revoke_failed' ? 'failure' : 'success',
      reason: place,
      tokenFingerprint: leaks.fingerprint(one.secret),
      ...factFields(facts),
      // The route template, never the raw path (it may name a person); as access decisions do.
      route: view.route === undefined ? UNMATCHED_ROUTE : view.route.slice(0, 512),
      method: view.method,
      clientAddress: leaks.parts.pseudonyms.address(view.ip),
      detail: {
        place,
        parameter: auditText(one.parameter, 64) ?? '',
        action,
        ...(facts !== undefined ? { kind: facts.kind } : {}),
      },
    });
  }
}
