import type { RequestView } from '../request';

/** GDPR Art. 6(1) lawful bases other than consent. */
export type LawfulBasis =
  'contract' | 'legal_obligation' | 'vital_interests' | 'public_task' | 'legitimate_interests';

/** Every {@link LawfulBasis}. */
export const LAWFUL_BASES: readonly LawfulBasis[] = [
  'contract',
  'legal_obligation',
  'vital_interests',
  'public_task',
  'legitimate_interests',
];

/** Finds the data subject of a request, e.g. from a path parameter. */
export type SubjectResolver = (request: RequestView) => string | undefined;

/** A route's consent requirement. */
export interface ConsentRequirement {
  /** The purpose of processing; must be one of the warden's `purposes`. */
  readonly purpose: string;
  /**
   * Who the data subject is. A function of the request, or `{ param: 'id' }` for a route
   * parameter. Default: the token's subject.
   */
  readonly subject?: SubjectResolver | { readonly param: string };
}

/** A route's declared lawful basis other than consent (audited, no consent lookup). */
export interface LawfulBasisRequirement {
  readonly basis: LawfulBasis;
  /** The purpose, for the audit trail; must be one of the warden's `purposes` when given. */
  readonly purpose?: string;
}

/** What a route requires of the token. All parts are optional and combine. */
export interface Requirement {
  /** Anyone may call the route; a token, if sent, is still verified. */
  readonly public?: boolean;
  /** Scopes the token must all carry. */
  readonly scopes?: readonly string[];
  /** Consent the data subject must have given for a purpose. */
  readonly consent?: ConsentRequirement;
  /** Another lawful basis, instead of consent. */
  readonly lawfulBasis?: LawfulBasisRequirement;
}
