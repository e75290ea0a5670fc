export {
  LAWFUL_BASES,
  routeSteps,
  type RouteSteps,
  type ConsentRequirement,
  type LawfulBasis,
  type LawfulBasisRequirement,
  type Requirement,
  type SubjectResolver,
} from './requirement';
