/**
 * DI tokens and metadata keys. Tokens are Symbols so they never clash with a user's string
 * tokens; users reach them through `@InjectWarden()` and {@link getWardenToken}.
 */

/** Provides the module's `Warden`. */
export const TOKENWARDEN_WARDEN: unique symbol = Symbol('tokenwarden:warden');

/** Provides the options given to `TokenwardenModule.forRoot` or returned by the async factory. */
export const TOKENWARDEN_OPTIONS: unique symbol = Symbol('tokenwarden:options');

/**
 * The injection token of the `Warden`, for custom providers and `moduleRef.get()`.
 *
 * @example
 * const warden = app.get<Warden>(getWardenToken());
 */
export function getWardenToken(): typeof TOKENWARDEN_WARDEN {
  return TOKENWARDEN_WARDEN;
}

// Metadata keys are strings, not Symbols, so a class decorated through one copy of this package
// (ESM) is still read by a guard loaded from the other (CJS).
export const SCOPES_METADATA = 'tokenwarden:scopes';
export const CONSENT_METADATA = 'tokenwarden:consent';
export const LAWFUL_BASIS_METADATA = 'tokenwarden:lawful-basis';
export const PUBLIC_METADATA = 'tokenwarden:public';
/** Metadata key of `@AnyScope()`. */
export const ANY_SCOPES_METADATA = 'tokenwarden:any-scopes';
/** Metadata key of the claim checks (`@ClaimEquals`, `@ClaimIncludes`, `@ClaimCheck`). */
export const CLAIMS_METADATA = 'tokenwarden:claims';
/** Metadata key of `@DataSubject()`. */
export const DATA_SUBJECT_METADATA = 'tokenwarden:data-subject';
/** Metadata key of `@RequireDpop()`. */
export const DPOP_METADATA = 'tokenwarden:dpop';
/** Internal: the guard lets these routes through unchecked and unaudited (the metrics endpoint). */
export const EXEMPT_METADATA = 'tokenwarden:exempt';
