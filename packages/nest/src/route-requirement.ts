import type { Reflector } from '@nestjs/core';
import type {
  ClaimRequirement,
  ConsentRequirement,
  LawfulBasisRequirement,
  Requirement,
} from '@tokenwarden/core';
import {
  ANY_SCOPES_METADATA,
  CLAIMS_METADATA,
  CONSENT_METADATA,
  DATA_SUBJECT_METADATA,
  DPOP_METADATA,
  EXEMPT_METADATA,
  LAWFUL_BASIS_METADATA,
  PUBLIC_METADATA,
  SCOPES_METADATA,
} from './tokens';

/** Marks a route the guard leaves alone (the metrics endpoint). */
export const EXEMPT: unique symbol = Symbol('tokenwarden:exempt-route');

/** What a route asks of the guard: a requirement, none beyond a valid token, or nothing at all. */
export type RouteRequirement = Requirement | undefined | typeof EXEMPT;

// One Requirement object per (controller, handler): the warden compiles a requirement once per
// object identity, so the start-up validation and every request share the compiled form.
const cache = new WeakMap<object, WeakMap<object, RouteRequirement>>();

/**
 * Reads a route's decorators into a core `Requirement`. Each setting is looked up on the handler
 * first, then the controller (`getAllAndOverride`); consent and lawful basis are one choice, so a
 * handler declaring either replaces both of the controller's. Claim checks are merged: the
 * handler's and the controller's all apply.
 */
export function routeRequirement(
  reflector: Reflector,
  handler: object,
  controller: object,
): RouteRequirement {
  let perController = cache.get(controller);
  if (!perController) {
    perController = new WeakMap();
    cache.set(controller, perController);
  }
  if (perController.has(handler)) return perController.get(handler);
  const requirement = read(reflector, handler as () => unknown, controller as () => unknown);
  perController.set(handler, requirement);
  return requirement;
}

function read(
  reflector: Reflector,
  handler: () => unknown,
  controller: () => unknown,
): RouteRequirement {
  const targets = [handler, controller];
  if (reflector.getAllAndOverride<boolean | undefined>(EXEMPT_METADATA, targets) === true) {
    return EXEMPT;
  }
  const isPublic = reflector.getAllAndOverride<boolean | undefined>(PUBLIC_METADATA, targets);
  const scopes = reflector.getAllAndOverride<readonly string[] | undefined>(
    SCOPES_METADATA,
    targets,
  );
  let consent: ConsentRequirement | undefined;
  let lawfulBasis: LawfulBasisRequirement | undefined;
  for (const target of targets) {
    consent = reflector.get<ConsentRequirement | undefined>(CONSENT_METADATA, target);
    lawfulBasis = reflector.get<LawfulBasisRequirement | undefined>(LAWFUL_BASIS_METADATA, target);
    if (consent !== undefined || lawfulBasis !== undefined) break;
  }
  const dpop = reflector.getAllAndOverride<'required' | undefined>(DPOP_METADATA, targets);
  const dataSubject = reflector.getAllAndOverride<Requirement['dataSubject']>(
    DATA_SUBJECT_METADATA,
    targets,
  );
  const anyScopes = reflector.getAllAndOverride<readonly string[] | undefined>(
    ANY_SCOPES_METADATA,
    targets,
  );
  // Claim checks add up: the controller's and the handler's all apply.
  const claims = reflector.getAllAndMerge<ClaimRequirement[]>(CLAIMS_METADATA, targets);
  if (
    isPublic === undefined &&
    scopes === undefined &&
    anyScopes === undefined &&
    claims.length === 0 &&
    !consent &&
    !lawfulBasis &&
    !dpop &&
    dataSubject === undefined
  ) {
    return undefined;
  }
  return Object.freeze({
    ...(isPublic === true ? { public: true } : {}),
    ...(dpop ? { dpop } : {}),
    ...(scopes !== undefined ? { scopes } : {}),
    ...(anyScopes !== undefined ? { anyScopes } : {}),
    ...(claims.length > 0 ? { claims } : {}),
    ...(consent ? { consent } : {}),
    ...(lawfulBasis ? { lawfulBasis } : {}),
    ...(dataSubject !== undefined ? { dataSubject } : {}),
  });
}
