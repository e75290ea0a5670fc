import { ConfigError } from '../errors';
import type { ClaimRequirement, ClaimValue } from '../policy/requirement';
import type { ClaimPredicate } from './context';

type Claims = Readonly<Record<string, unknown>>;

/**
 * Compiles a route's claim checks into predicates, validating them at start-up: a claim name is
 * a non-empty string, compared values are strings, finite numbers or booleans, `includes` names
 * at least one value and `check` is a function. Throws ConfigError naming the step.
 */
export function compileClaims(claims: readonly ClaimRequirement[]): ClaimPredicate[] {
  if (!Array.isArray(claims)) {
    throw new ConfigError(
      "a route's claims must be a list of { claim, equals | includes } or { check }",
    );
  }
  return claims.map((requirement: ClaimRequirement) => {
    if (requirement === null || typeof requirement !== 'object') {
      throw new ConfigError(
        'a claim check must be an object: { claim, equals | includes } or { check }',
      );
    }
    if ('check' in requirement) {
      if (typeof requirement.check !== 'function') {
        throw new ConfigError('claimCheck: the check must be a function of the claims');
      }
      return guarded(requirement.check);
    }
    const name = requirement.claim;
    if (typeof name !== 'string' || name === '') {
      throw new ConfigError(
        'claimEquals / claimIncludes: the claim name must be a non-empty string',
      );
    }
    if ('equals' in requirement) {
      const value = claimValue(requirement.equals, 'claimEquals', name);
      return (claims) => own(claims, name) === value;
    }
    if ('includes' in requirement) {
      const values = requirement.includes;
      if (!Array.isArray(values) || values.length === 0) {
        throw new ConfigError(`claimIncludes('${name}'): name at least one value`);
      }
      const wanted = values.map((v) => claimValue(v, 'claimIncludes', name));
      return (claims) => includesAll(own(claims, name), wanted);
    }
    throw new ConfigError(`a claim check of '${name}' needs equals, includes or check`);
  });
}

function claimValue(value: unknown, step: string, name: string): ClaimValue {
  if (
    typeof value === 'string' ||
    typeof value === 'boolean' ||
    (typeof value === 'number' && Number.isFinite(value))
  ) {
    return value;
  }
  throw new ConfigError(
    `${step}('${name}'): compare with a string, a finite number or a boolean, not ${typeof value}`,
  );
}

/** A user's check as a predicate that passes only on `true` and fails when it throws. */
function guarded(check: (claims: Claims) => boolean): ClaimPredicate {
  return (claims) => {
    try {
      return check(claims) === true;
    } catch {
      return false;
    }
  };
}

/** A claim by its exact name, own properties only (never `constructor` or `__proto__`). */
function own(claims: Claims, name: string): unknown {
  return Object.hasOwn(claims, name) ? claims[name] : undefined;
}

/** Whether an array claim, or a space-separated string claim, contains every wanted value. */
function includesAll(claim: unknown, wanted: readonly ClaimValue[]): boolean {
  if (Array.isArray(claim)) {
    for (const value of wanted) if (!claim.includes(value)) return false;
    return true;
  }
  if (typeof claim !== 'string') return false;
  for (const value of wanted) if (typeof value !== 'string' || !hasWord(claim, value)) return false;
  return true;
}

/** Whether `word` is one of the space-separated words of `text`, without splitting it. */
function hasWord(text: string, word: string): boolean {
  if (word === '') return false;
  for (let at = text.indexOf(word); at >= 0; at = text.indexOf(word, at + 1)) {
    const end = at + word.length;
    if ((at === 0 || text[at - 1] === ' ') && (end === text.length || text[end] === ' ')) {
      return true;
    }
  }
  return false;
}
