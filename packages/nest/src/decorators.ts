import {
  createParamDecorator,
  Inject,
  SetMetadata,
  type CustomDecorator,
  type ExecutionContext,
} from '@nestjs/common';
import type {
  ConsentRequirement,
  LawfulBasis as LawfulBasisName,
  LawfulBasisRequirement,
  Principal,
} from '@tokenwarden/core';
import {
  CONSENT_METADATA,
  DPOP_METADATA,
  LAWFUL_BASIS_METADATA,
  PUBLIC_METADATA,
  SCOPES_METADATA,
  TOKENWARDEN_WARDEN,
} from './tokens';

/**
 * The token must carry every scope (403 `insufficient_scope` otherwise). On a controller it
 * applies to every handler; a handler's own `@Scopes()` replaces the controller's list.
 *
 * @example
 * @Scopes('customers:read')
 * @Get(':id')
 * findOne() {}
 */
export function Scopes(...scopes: string[]): CustomDecorator<string> {
  return SetMetadata(SCOPES_METADATA, Object.freeze([...scopes]));
}

/** Options of {@link Consent}. */
export interface ConsentOptions {
  /**
   * Who the data subject is: `{ param: 'id' }` for a route parameter, or a function of the
   * request view. Default: the token's subject.
   */
  readonly subject?: ConsentRequirement['subject'];
}

/**
 * The data subject must have active consent for `purpose`, given after any withdrawal the token
 * predates (403 `consent_missing`, `consent_withdrawn` or `consent_expired` otherwise). The
 * purpose must be one of the warden's `purposes`: an unknown one fails at start-up.
 *
 * @example
 * @Consent('marketing', { subject: { param: 'id' } })
 * @Get(':id/marketing-profile')
 * profile() {}
 */
export function Consent(purpose: string, options: ConsentOptions = {}): CustomDecorator<string> {
  const requirement: ConsentRequirement =
    options.subject === undefined ? { purpose } : { purpose, subject: options.subject };
  return SetMetadata(CONSENT_METADATA, Object.freeze(requirement));
}

/** Options of {@link LawfulBasis}. */
export interface LawfulBasisOptions {
  /** The purpose of processing, for the audit trail; must be one of the warden's `purposes`. */
  readonly purpose?: string;
  /**
   * Whose personal data the route touches, for the audit trail: `{ param: 'id' }` or a function
   * of the request view (403 `data_subject_unresolved` when it gives nothing). Default: none.
   */
  readonly subject?: LawfulBasisRequirement['subject'];
}

/**
 * Processing rests on a GDPR Art. 6 basis other than consent (`contract`, `legal_obligation`,
 * …): no consent lookup, but the basis and purpose are written to the audit event. A handler's
 * `@Consent()` or `@LawfulBasis()` replaces the controller's; declaring both on the same
 * handler (or controller) fails at start-up.
 *
 * @example
 * @LawfulBasis('legal_obligation', { purpose: 'billing' })
 * @Get('invoices')
 * invoices() {}
 */
export function LawfulBasis(
  basis: LawfulBasisName,
  options: LawfulBasisOptions = {},
): CustomDecorator<string> {
  const requirement: LawfulBasisRequirement = {
    basis,
    ...(options.purpose !== undefined ? { purpose: options.purpose } : {}),
    ...(options.subject !== undefined ? { subject: options.subject } : {}),
  };
  return SetMetadata(LAWFUL_BASIS_METADATA, Object.freeze(requirement));
}

/**
 * Anyone may call the route; a token, if sent, is still verified (and a bad one refused), and
 * the request is audited. `@Public(false)` on a handler closes it again inside a public
 * controller.
 */
export function Public(isPublic = true): CustomDecorator<string> {
  return SetMetadata(PUBLIC_METADATA, isPublic);
}

/**
 * Only DPoP-bound tokens with a valid proof (RFC 9449): a Bearer token gets 401 `dpop_required`.
 * Needs the warden's `dpop` option (start-up fails without it). On a controller it applies to
 * every handler.
 *
 * @example
 * @RequireDpop()
 * @Post('payouts')
 * payout() {}
 */
export function RequireDpop(): CustomDecorator<string> {
  return SetMetadata(DPOP_METADATA, 'required');
}

/** The request property the guard sets; `undefined` on a public route called without a token. */
export interface TokenwardenRequest {
  auth?: Principal;
}

/**
 * Parameter decorator: the verified caller (`Principal`), or one of its fields.
 * `undefined` on a public route called without a token. HTTP handlers only; GraphQL resolvers
 * read `req.auth` from their context.
 *
 * @example
 * @Get('me')
 * me(@Auth() principal: Principal) { return principal.subject; }
 */
export const Auth: (field?: keyof Principal) => ParameterDecorator = createParamDecorator(
  (field: keyof Principal | undefined, context: ExecutionContext) => {
    const principal = context.switchToHttp().getRequest<TokenwardenRequest>().auth;
    return field === undefined ? principal : principal?.[field];
  },
);

/**
 * Injects the module's `Warden`: revoke tokens and record consent from a service.
 *
 * @example
 * constructor(@InjectWarden() private readonly warden: Warden) {}
 */
export function InjectWarden(): PropertyDecorator & ParameterDecorator {
  return Inject(TOKENWARDEN_WARDEN);
}
