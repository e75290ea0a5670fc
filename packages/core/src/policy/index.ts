export type {
  AddressMode,
  AuditOptions,
  CredentialOptions,
  JwtOptions,
  Logger,
  PurposeDefinition,
  WardenOptions,
} from './options';
export {
  LAWFUL_BASES,
  type ConsentRequirement,
  type LawfulBasis,
  type LawfulBasisRequirement,
  type Requirement,
  type SubjectResolver,
} from './requirement';
