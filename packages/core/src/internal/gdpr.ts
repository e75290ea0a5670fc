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
