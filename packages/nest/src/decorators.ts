import {
  createParamDecorator,
  Inject,
  SetMetadata,
  type CustomDecorator,
  type ExecutionContext,
} from '@nestjs/common';
import type {
  ClaimRequirement,
  ClaimValue,
  ConsentRequirement,
  LawfulBasis as LawfulBasisName,
  LawfulBasisRequirement,
  Principal,
  Requirement,
} from '@tokenwarden/core';
import {
  ANY_SCOPES_METADATA,
  CLAIMS_METADATA,
  CONSENT_METADATA,
  DATA_SUBJECT_METADATA,
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

/**
 * The token must carry at least one of the scopes (403 `insufficient_scope` otherwise), as
 * `requireAnyScope` in Express and Koa. On a controller it applies to every handler; a handler's
 * own `@AnyScope()` replaces the controller's list. Combines with `@Scopes()`: all of those, and
 * one of these.
 *
 * @example
 * @AnyScope('orders:read', 'orders:admin')
 * @Get()
 * list() {}
 */
export function AnyScope(...scopes: string[]): CustomDecorator<string> {
  return SetMetadata(ANY_SCOPES_METADATA, Object.freeze([...scopes]));
}

/** A decorator adding a claim check to a handler or a controller. */
export type ClaimDecorator = ClassDecorator & MethodDecorator;

/**
 * Adds a claim check. Claim checks add up: every one on the handler and on its controller must
 * pass (403 `claim_check_failed` otherwise).
 */
function claimDecorator(requirement: ClaimRequirement): ClaimDecorator {
  const check = Object.freeze(requirement);
  return (target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    const holder = (descriptor?.value as object | undefined) ?? target;
    const before = Reflect.getMetadata(CLAIMS_METADATA, holder) as ClaimRequirement[] | undefined;
    Reflect.defineMetadata(CLAIMS_METADATA, Object.freeze([...(before ?? []), check]), holder);
  };
}

/**
 * The token's claim must be exactly `value` (403 `claim_check_failed` otherwise), as auth0's
 * `claimEquals`. Claims are read by their exact name (`https://example.com/tenant` is one name).
 *
 * @example
 * @ClaimEquals('tenant', 'acme')
 * @Get('reports')
 * reports() {}
 */
export function ClaimEquals(claim: string, value: ClaimValue): ClaimDecorator {
  return claimDecorator({ claim, equals: value });
}

/**
 * The token's claim (an array, or a space-separated string) must contain every value (403
 * `claim_check_failed` otherwise).
 *
 * @example
 * @ClaimIncludes('roles', 'admin')
 * @Delete(':id')
 * remove() {}
 */
export function ClaimIncludes(claim: string, ...values: ClaimValue[]): ClaimDecorator {
  return claimDecorator({ claim, includes: values });
}

/**
 * `check(claims)` must return `true` (403 `claim_check_failed` otherwise, also when it throws).
 * It runs on every request of the route: keep it synchronous and cheap.
 *
 * @example
 * @ClaimCheck((claims) => claims.email_verified === true)
 * @Post('orders')
 * order() {}
 */
export function ClaimCheck(
  check: (claims: Readonly<Record<string, unknown>>) => boolean,
): ClaimDecorator {
  return claimDecorator({ check });
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

/**
 * Names whose personal data the route touches: a route parameter (`{ param: 'id' }`), `'token'`
 * for the caller, or a function of the request. It is recorded in the audit trail, so the
 * access and exposure reports count the read, on routes that only check scopes too (403
 * `data_subject_unresolved` when it cannot be resolved). On a controller it applies to every
 * handler.
 *
 * @example
 * @Scopes('customers:read')
 * @DataSubject({ param: 'id' })
 * @Get(':id')
 * findOne() {}
 */
export function DataSubject(
  subject: NonNullable<Requirement['dataSubject']>,
): CustomDecorator<string> {
  return SetMetadata(DATA_SUBJECT_METADATA, subject);
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
