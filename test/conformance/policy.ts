import { checkPolicy, type Policy } from '@tokenwarden/core/policy';
import type { Requirement } from '@tokenwarden/core/internal';

/**
 * The conformance app's routes as a policy: every route of `ROUTES` (app-spec.ts) declared with
 * what a policy can say (scopes, purpose, lawful basis, data subject, public). What it cannot say
 * (any-of scopes, claim checks, DPoP) stays in code: see {@link codeOnly}.
 */
export const CONFORMANCE_POLICY_TEXT = `
version: 1
issuer: https://issuer.test/
audience: tokenwarden-test-api
signing: { algorithm: ES256, rotationPeriod: 30d }
scopes:
  customers:read: { description: Read customers, dataCategories: [contact_details] }
  customers:write: { description: Change customers, dataCategories: [contact_details] }
  marketing:read: { description: Read profiles, dataCategories: [marketing_preferences] }
  reports:read: { description: Read reports, dataCategories: [] }
  reports:admin: { description: Manage reports, dataCategories: [] }
  payouts:read: { description: Read payouts, dataCategories: [bank_details] }
purposes:
  marketing: { description: Offers, lawfulBasis: consent }
  billing: { description: Invoices, lawfulBasis: legal_obligation }
clients:
  console:
    scopes: [customers:read, customers:write, marketing:read, reports:read, reports:admin, payouts:read]
routes:
  - route: GET /health
    public: true
  - route: GET /plain
  - route: GET /customers/:id
    scopes: [customers:read]
    dataSubject: { param: id }
  - route: PUT /customers/:id
    scopes: [customers:write]
    dataSubject: { param: id }
  - route: GET /customers/:id/profile
    scopes: [marketing:read]
    purpose: marketing
    dataSubject: { param: id }
  - route: GET /me/profile
    purpose: marketing
    dataSubject: token
  - route: GET /invoices
    purpose: billing
    dataSubject: token
  - route: GET /reports
  - route: GET /tenants/:id/reports
  - route: GET /payouts
    scopes: [payouts:read]
    dataSubject: token
`;

/** The conformance policy, validated. */
export function conformancePolicy(): Policy {
  const result = checkPolicy(CONFORMANCE_POLICY_TEXT);
  if (result.policy === undefined) {
    throw new Error(`conformance policy: ${JSON.stringify(result.diagnostics)}`);
  }
  return result.policy;
}

/** What of a route's requirement a policy cannot say, and so stays a step in code. */
export function codeOnly(requirement: Requirement | undefined): Requirement | undefined {
  if (requirement === undefined) return undefined;
  const rest: Requirement = {
    ...(requirement.anyScopes ? { anyScopes: requirement.anyScopes } : {}),
    ...(requirement.claims ? { claims: requirement.claims } : {}),
    ...(requirement.dpop ? { dpop: requirement.dpop } : {}),
  };
  return Object.keys(rest).length > 0 ? rest : undefined;
}
