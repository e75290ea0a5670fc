/**
 * A fake request context for running one pipeline stage alone. Not a test file.
 */
import type { RequestView, Requirement } from '@tokenwarden/core';
import { NO_REQUIREMENT, RequestContext } from '../../src/pipeline/context';
import { Denials } from '../../src/pipeline/denials';
import { Requirements } from '../../src/pipeline/requirements';

export const denials = new Denials('api', undefined);

const requirements = new Requirements({
  assertPurpose: (purpose, where) => {
    if (!['marketing', 'research'].includes(purpose)) throw new Error(`${where}: ${purpose}`);
  },
  dpop: true,
});

/** A context as the runner hands it to the first stage, with an optional requirement. */
export function context(view: RequestView, requirement?: Requirement): RequestContext {
  const ctx = new RequestContext(view, denials.of('token_missing'), performance.now());
  ctx.req = requirement ? requirements.compile(requirement) : NO_REQUIREMENT;
  return ctx;
}

/** Turns a context into a route step's, for stages that behave differently there. */
export function routeStep(ctx: RequestContext, requirement: Requirement): RequestContext {
  ctx.phase = 'route';
  ctx.req = requirements.compile(requirement);
  ctx.resetObservations();
  return ctx;
}
