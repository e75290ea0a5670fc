/**
 * The plain request data the core reads. Adapters build one per request from their framework's
 * request; the core never sees `req` or `ctx`.
 */
export interface RequestView {
  /** HTTP method, upper case. */
  readonly method: string;
  /** The path without the query string. */
  readonly path: string;
  /** The raw request target (path and query), used only to spot query-string tokens. */
  readonly url: string;
  /** The matched route template (e.g. `/customers/:id`), when the framework knows it. */
  readonly route?: string;
  /** All values of a header, lower-case name; repeated headers give several values. */
  headerValues(name: string): readonly string[] | undefined;
  /** A cookie value, when the adapter can read cookies. */
  cookie?(name: string): string | undefined;
  /** A route parameter, when the framework has matched the route. */
  param?(name: string): string | undefined;
  /** The client address, as the framework reports it (honouring its trust-proxy setting). */
  readonly ip?: string;
}
