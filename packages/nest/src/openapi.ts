import type { INestApplicationContext } from '@nestjs/common';
import { DiscoveryService, MetadataScanner, Reflector } from '@nestjs/core';
import {
  addOpenApiSecurity,
  type OpenApiDocument,
  type OpenApiRequirement,
  type OpenApiSecurityOptions,
} from '@tokenwarden/core';
import { EXEMPT, routeRequirement } from './route-requirement';

/** Options of {@link addTokenwardenSecurity}. */
export interface NestOpenApiOptions extends Omit<OpenApiSecurityOptions, 'requirements'> {
  /**
   * The `operationId` of a handler, as your `SwaggerModule` options make it. Default:
   * `${controller}_${method}`, `@nestjs/swagger`'s default `operationIdFactory`.
   */
  readonly operationId?: (controller: string, method: string) => string;
  /**
   * Operations that are not behind `TokenwardenGuard` (when it is not the global guard), by
   * `operationId`: written as `security: []`. Default: none, every route is guarded.
   */
  readonly unguarded?: readonly string[];
}

/**
 * Documents Tokenwarden in the OpenAPI document of a Nest application (what
 * `SwaggerModule.createDocument(app, config)` returns), in place: the bearer scheme, and on each
 * operation the scopes its decorators require (`@Scopes`, one alternative per `@AnyScope`),
 * optional tokens on `@Public()` routes and no security on the metrics endpoint. Handlers are
 * matched by `operationId`; core's `addOpenApiSecurity` does the writing.
 *
 * @example
 * const document = SwaggerModule.createDocument(app, new DocumentBuilder().build());
 * addTokenwardenSecurity(app, document);
 * SwaggerModule.setup('docs', app, document);
 */
export function addTokenwardenSecurity<D extends OpenApiDocument>(
  app: INestApplicationContext,
  document: D,
  options: NestOpenApiOptions = {},
): D {
  const discovery = app.get(DiscoveryService, { strict: false });
  const scanner = app.get(MetadataScanner, { strict: false });
  const reflector = app.get(Reflector, { strict: false });
  const operationId = options.operationId ?? ((controller, method) => `${controller}_${method}`);
  const requirements = new Map<string, OpenApiRequirement>();
  for (const wrapper of discovery.getControllers()) {
    const controller: unknown = wrapper.metatype;
    if (typeof controller !== 'function') continue;
    const prototype = controller.prototype as Record<string, unknown>;
    for (const name of scanner.getAllMethodNames(prototype)) {
      const handler = prototype[name];
      if (typeof handler !== 'function') continue;
      const requirement = routeRequirement(reflector, handler, controller);
      requirements.set(
        operationId(controller.name, name),
        requirement === EXEMPT ? false : requirement,
      );
    }
  }
  for (const id of options.unguarded ?? []) requirements.set(id, false);
  return addOpenApiSecurity(document, {
    ...options,
    requirements: (route) =>
      route.operationId === undefined ? undefined : requirements.get(route.operationId),
  });
}
