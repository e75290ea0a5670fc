import type { Requirement } from './requirement';

/** Where a route step made by an adapter keeps its requirement, for the start-up drift check. */
export const STEP_REQUIREMENT: unique symbol = Symbol.for('tokenwarden.stepRequirement');

/** Tags a route step (a function or object) with its requirement, hidden from enumeration. */
export function tagStep<H>(step: H, requirement: Requirement): H {
  if (
    (typeof step === 'function' || (typeof step === 'object' && step !== null)) &&
    Object.isExtensible(step)
  ) {
    Object.defineProperty(step, STEP_REQUIREMENT, { value: requirement, enumerable: false });
  }
  return step;
}

/** The requirement of a route step made by an adapter, if `value` is one. */
export function stepRequirementOf(value: unknown): Requirement | undefined {
  if (typeof value !== 'function' && (typeof value !== 'object' || value === null))
    return undefined;
  return (value as { [STEP_REQUIREMENT]?: Requirement })[STEP_REQUIREMENT];
}
