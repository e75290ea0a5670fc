import type { RequestContext } from '../context';
import type { Denials } from '../denials';
import type { Stage, StageOutcome } from '../stage';

/**
 * Stage 3 without the `dpop` option: refuses a sender-constrained token (`cnf.jkt`, RFC 9449
 * §6.1) with `dpop_required`. Such a token is only good with a proof of its key, which this
 * warden does not check; taken as a plain Bearer token, whoever copied it could use it. With
 * `dpop`, the DPoP stage checks the proof and the binding instead.
 */
export class BearerOnlyStage implements Stage {
  readonly name = 'bearer-only';

  constructor(private readonly denials: Denials) {}

  run(ctx: RequestContext): StageOutcome {
    const derived = ctx.derived;
    if (derived === undefined) return undefined;
    // Read once per verified token: a cached token's claims never change.
    const bound = (derived.keyBound ??= isKeyBound(ctx.verified!.claims));
    return bound ? this.denials.of('dpop_required') : undefined;
  }
}

/**
 * True when a token names a DPoP key (`cnf.jkt`), or carries a `cnf` claim that is no JSON
 * object (a confirmation nobody can check is never ignored), as the DPoP verifier reads it.
 */
function isKeyBound(claims: Readonly<Record<string, unknown>>): boolean {
  const cnf = claims.cnf;
  if (cnf === undefined) return false;
  if (cnf === null || typeof cnf !== 'object' || Array.isArray(cnf)) return true;
  return (cnf as Record<string, unknown>).jkt !== undefined;
}
