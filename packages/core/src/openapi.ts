import type { Requirement } from './policy/requirement';

/**
 * The parts of an OpenAPI 3 document {@link addOpenApiSecurity} reads and writes (what
 * `SwaggerModule.createDocument` returns, or a document of your own); everything else is kept.
 */
export interface OpenApiDocument {
  paths?: Record<string, Record<string, unknown> | undefined>;
  components?: { securitySchemes?: Record<string, unknown>; [key: string]: unknown };
  [key: string]: unknown;
}

/** An operation of the document, as {@link OpenApiSecurityOptions.requirements} sees it. */
export interface OpenApiRoute {
  /** The path template as the document writes it, e.g. `/customers/{id}`. */
  readonly path: string;
  /** The method, lower case. */
  readonly method: string;
  readonly operationId: string | undefined;
}

/** What an operation requires: a route requirement, `undefined` for any valid token, `false` for none. */
export type OpenApiRequirement = Requirement | false | undefined;

/** Options of {@link addOpenApiSecurity}. */
export interface OpenApiSecurityOptions {
  /**
   * Each operation's requirement, as a function of the operation or a map from `operationId`.
   * `undefined` (or no entry): any valid token, as below `app.use(tw)`; `false`: not behind
   * Tokenwarden (routes above the line, the metrics endpoint), written as `security: []`.
   * Default: every operation needs a valid token.
   */
  readonly requirements?:
    ((route: OpenApiRoute) => OpenApiRequirement) | Readonly<Record<string, Requirement | false>>;
  /** The name of the security scheme. Default: `'bearerAuth'`. */
  readonly schemeName?: string;
  /** The scheme's `bearerFormat`. Default: `'JWT'`. */
  readonly bearerFormat?: string;
  /** The scheme's description. Default: none. */
  readonly description?: string;
  /**
   * As the warden's `credentialsRequired`: `false` makes operations that need nothing beyond a
   * token accept anonymous callers (`security: [{}, { bearerAuth: [] }]`). Default: `true`.
   */
  readonly credentialsRequired?: boolean;
}

const METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];

type SecurityRequirement = Record<string, string[]>;

/**
 * Documents Tokenwarden in an OpenAPI 3 document, in place: the bearer scheme in
 * `components.securitySchemes` (kept when the document has one of that name already), and on
 * each operation a `security` list with the scopes its route requires (one alternative per
 * any-of scope), `[{}, { bearerAuth: [] }]` when a token is optional, `[]` when it is not behind
 * Tokenwarden; plus `401` and `403` responses where they can happen and are not described.
 * OpenAPI 3.1 reads the scopes of an HTTP scheme as roles; 3.0 tools show them too.
 * Nest applications use `addTokenwardenSecurity` from `@tokenwarden/nest`, which reads the
 * decorators.
 *
 * @example
 * addOpenApiSecurity(document, {
 *   requirements: { listOrders: { scopes: ['orders:read'] }, health: false },
 * });
 */
export function addOpenApiSecurity<D extends OpenApiDocument>(
  document: D,
  options: OpenApiSecurityOptions = {},
): D {
  const name = options.schemeName ?? 'bearerAuth';
  const components = (document.components ??= {});
  const schemes = (components.securitySchemes ??= {});
  schemes[name] ??= {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: options.bearerFormat ?? 'JWT',
    ...(options.description !== undefined ? { description: options.description } : {}),
  };
  const lookup = options.requirements;
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    if (item === undefined || item === null) continue;
    for (const method of METHODS) {
      const operation = item[method] as Record<string, unknown> | undefined;
      if (operation === null || typeof operation !== 'object') continue;
      const operationId =
        typeof operation.operationId === 'string' ? operation.operationId : undefined;
      const requirement =
        typeof lookup === 'function'
          ? lookup({ path, method, operationId })
          : operationId !== undefined && lookup !== undefined && Object.hasOwn(lookup, operationId)
            ? lookup[operationId]
            : undefined;
      describe(operation, requirement, name, options.credentialsRequired !== false);
    }
  }
  return document;
}

function describe(
  operation: Record<string, unknown>,
  requirement: OpenApiRequirement,
  scheme: string,
  credentialsRequired: boolean,
): void {
  if (requirement === false) {
    operation.security = [];
    return;
  }
  const scopes = requirement?.scopes ?? [];
  const anyScopes = requirement?.anyScopes ?? [];
  const refusable =
    scopes.length > 0 ||
    anyScopes.length > 0 ||
    (requirement?.claims?.length ?? 0) > 0 ||
    requirement?.consent !== undefined;
  const optional = (requirement?.public === true || !credentialsRequired) && !refusable;
  let security: SecurityRequirement[];
  if (anyScopes.length === 0) security = [{ [scheme]: [...scopes] }];
  else security = anyScopes.map((any) => ({ [scheme]: [...new Set([...scopes, any])] }));
  operation.security = optional ? [{}, ...security] : security;
  const responses = operation.responses;
  if (responses === null || typeof responses !== 'object') return;
  const described = responses as Record<string, unknown>;
  described['401'] ??= {
    description: 'The access token is missing, invalid, expired or revoked (problem+json)',
  };
  if (refusable || requirement?.lawfulBasis?.subject !== undefined) {
    described['403'] ??= {
      description: 'The token lacks a scope or claim, or the data subject has not consented',
    };
  }
}
