import { ConfigError } from '../errors';
import { isScopeToken } from '../internal/scope';
import { LAWFUL_BASES, type Requirement, type SubjectResolver } from '../policy/requirement';
import { compileClaims } from './claims';
import type { CompiledRequirement } from './context';

/** What route requirements are validated against. */
export interface RequirementPolicy {
  /** Throws ConfigError when `purpose` is not declared; `where` names the step. */
  readonly assertPurpose: (purpose: string, where: string) => void;
  /** Whether the warden has a `dpop` option. */
  readonly dpop: boolean;
}

/**
 * Validates route requirements against the warden's policy (declared purposes, well-formed
 * scopes, one lawful basis) once, and keeps the compiled form for each requirement object.
 */
export class Requirements {
  private readonly compiled = new WeakMap<Requirement, CompiledRequirement>();

  constructor(private readonly policy: RequirementPolicy) {}

  /** The compiled requirement; throws ConfigError naming what to change. */
  compile(requirement: Requirement): CompiledRequirement {
    const cached = this.compiled.get(requirement);
    if (cached) return cached;
    const compiled = compileRequirement(requirement, this.policy);
    this.compiled.set(requirement, compiled);
    return compiled;
  }
}

function compileRequirement(
  requirement: Requirement,
  policy: RequirementPolicy,
): CompiledRequirement {
  if (requirement === null || typeof requirement !== 'object') {
    throw new ConfigError('a route requirement must be an object');
  }
  const scopes = scopeList(requirement.scopes ?? []);
  let anyScopes: readonly string[] | undefined;
  if (requirement.anyScopes !== undefined) {
    anyScopes = scopeList(requirement.anyScopes);
    if (anyScopes.length === 0) throw new ConfigError('requireAnyScope: name at least one scope');
  }
  const claims =
    requirement.claims === undefined || requirement.claims.length === 0
      ? undefined
      : compileClaims(requirement.claims);
  if (requirement.consent && requirement.lawfulBasis) {
    throw new ConfigError(
      'a route declares both consent and another lawful basis; choose one (GDPR Art. 6 needs exactly one basis per purpose)',
    );
  }
  let consent: CompiledRequirement['consent'];
  if (requirement.consent) {
    const { purpose, subject } = requirement.consent;
    policy.assertPurpose(purpose, 'requireConsent');
    const resolver = subjectResolver(subject, 'requireConsent');
    consent = resolver ? { purpose, subject: resolver } : { purpose };
  }
  let lawfulBasis: CompiledRequirement['lawfulBasis'];
  if (requirement.lawfulBasis) {
    const { basis, purpose, subject } = requirement.lawfulBasis;
    if (!LAWFUL_BASES.includes(basis)) {
      throw new ConfigError(
        `lawful basis '${String(basis)}' is unknown; use ${LAWFUL_BASES.join(', ')} (or requireConsent for consent)`,
      );
    }
    if (purpose !== undefined) policy.assertPurpose(purpose, 'lawfulBasis');
    const resolver = subjectResolver(subject, 'lawfulBasis');
    lawfulBasis = {
      basis,
      ...(purpose !== undefined ? { purpose } : {}),
      ...(resolver ? { subject: resolver } : {}),
    };
  }
  if (requirement.dpop !== undefined) {
    if (requirement.dpop !== 'required') {
      throw new ConfigError("a route's dpop must be 'required' (or absent)");
    }
    if (!policy.dpop) {
      throw new ConfigError(
        "a route requires DPoP but the warden has no 'dpop' option: add dpop: { publicOrigin }",
      );
    }
  }
  const dataSubject =
    requirement.dataSubject === 'token'
      ? 'token'
      : subjectResolver(requirement.dataSubject, 'dataSubject');
  return Object.freeze({
    public: requirement.public === true,
    scopes,
    ...(anyScopes ? { anyScopes } : {}),
    ...(claims ? { claims } : {}),
    ...(consent ? { consent } : {}),
    ...(lawfulBasis ? { lawfulBasis } : {}),
    ...(requirement.dpop ? { dpop: requirement.dpop } : {}),
    ...(dataSubject !== undefined ? { dataSubject } : {}),
  });
}

/** A copy of a route's scope list; throws ConfigError for a name that is not a scope token. */
function scopeList(scopes: readonly string[]): string[] {
  if (!Array.isArray(scopes)) throw new ConfigError("a route's scopes must be a list of names");
  for (const s of scopes) {
    if (!isScopeToken(s)) {
      throw new ConfigError(
        `scope '${String(s)}' is not a valid scope name (RFC 6749: printable ASCII, no spaces or quotes)`,
      );
    }
  }
  return [...scopes];
}

/** A route's `subject` option as a resolver; throws ConfigError naming the step when malformed. */
function subjectResolver(
  subject: SubjectResolver | { readonly param: string } | undefined,
  step: string,
): SubjectResolver | undefined {
  if (subject === undefined) return undefined;
  if (typeof subject === 'function') return subject;
  if (subject === null || typeof subject !== 'object' || typeof subject.param !== 'string') {
    throw new ConfigError(`${step}: 'subject' must be a function or { param: 'name' }`);
  }
  const name = subject.param;
  return (view) => view.param?.(name);
}
