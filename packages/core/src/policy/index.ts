export {
  LAWFUL_BASES,
  routeSteps,
  type RouteSteps,
  type ClaimRequirement,
  type ClaimValue,
  type ConsentRequirement,
  type LawfulBasis,
  type LawfulBasisRequirement,
  type Requirement,
  type SubjectResolver,
} from './requirement';
