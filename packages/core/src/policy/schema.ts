import { z } from 'zod';
import { hasControlChar } from '../internal/text';
import { JWT_ALGORITHMS } from '../verify/key-ring';
import { LAWFUL_BASES } from './requirement';

/** A duration: `'15m'`, `'1h'`, `'30d'`, `'500ms'`, or a number of seconds. */
export const durationSchema = z.union([
  z.string().regex(/^\d+(ms|s|m|h|d)$/, 'write a duration like 500ms, 30s, 15m, 12h or 90d'),
  z.number().int('a number of seconds must be whole').positive('a duration must be positive'),
]);

/**
 * Where a secret lives: `{ env: NAME }`, `{ file: PATH }` or `{ source: vault, name: PATH }`.
 * Never the secret itself.
 */
export const secretRefSchema = z.union(
  [
    z.strictObject({
      env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'),
    }),
    z.strictObject({ file: z.string().min(1) }),
    z.strictObject({ source: z.string().min(1), name: z.string().min(1) }),
  ],
  {
    error:
      'secrets never live in the policy: name where to read it, as { env: VARIABLE }, { file: /path } or { source: vault, name: path }',
  },
);

const name = (what: string) =>
  z
    .string()
    .min(1)
    .max(256)
    .refine(
      (value) => !/\s/.test(value) && !hasControlChar(value),
      `${what} names have no spaces or control characters`,
    );

const scopeSchema = z.strictObject({
  /** What the scope lets a client do. */
  description: z.string().min(1, 'describe what the scope allows'),
  /** Categories of personal data the scope reaches (contact_details, purchase_history, …). */
  dataCategories: z.array(z.string().min(1)).optional(),
});

const purposeSchema = z.strictObject({
  description: z.string().min(1, 'describe the processing'),
  lawfulBasis: z.enum(['consent', ...LAWFUL_BASES] as [string, ...string[]]),
  /** Categories of data subjects whose data is processed (customers, employees, …), for Art. 30. */
  dataSubjects: z.array(name('data subject category')).optional(),
  /** How long the data processed for the purpose is kept before erasure, for Art. 30. */
  retention: durationSchema.optional(),
});

/** Who receives the data through a client, for the records of processing (Art. 30). */
const recipientSchema = z.strictObject({
  /** The category of recipient: `support team (internal)`, `mailing processor`, … */
  category: z.string().min(1, 'name the category of recipient'),
  /** Where the recipient processes the data: an ISO 3166-1 alpha-2 country code. */
  country: z
    .string()
    .regex(/^[A-Z]{2}$/, 'write the country as an ISO 3166-1 alpha-2 code, e.g. DE or US')
    .optional(),
});

const clientSchema = z.strictObject({
  description: z.string().optional(),
  /** Scopes the client may be issued. */
  scopes: z.array(name('scope')).min(1, 'a client needs at least one scope'),
  /** Longest token lifetime; at most limits.maxTokenLifetime. */
  maxTokenLifetime: durationSchema.optional(),
  /** Longest API-key lifetime; at most limits.maxApiKeyAge. */
  apiKeyMaxAge: durationSchema.optional(),
  /** How often the client's credentials (API keys, secret) rotate. */
  rotationPeriod: durationSchema.optional(),
  /** The client's secret for the token endpoint. */
  secret: secretRefSchema.optional(),
  /** Whether the token endpoint gives the client a refresh token with client_credentials. */
  refreshTokens: z.boolean().optional(),
  /** Who receives personal data through the client, for the records of processing. */
  recipient: recipientSchema.optional(),
});

const routeSchema = z.strictObject({
  /** `METHOD /path/template`, e.g. `GET /customers/:id`. */
  route: z
    .string()
    .regex(
      /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|\*) \/\S*$/,
      'write it as "GET /customers/:id"',
    ),
  scopes: z.array(name('scope')).default([]),
  purpose: z.string().optional(),
  lawfulBasis: z.enum(LAWFUL_BASES as unknown as [string, ...string[]]).optional(),
  /** Whose personal data the route touches: `{ param: id }` (a path parameter) or `token`. */
  dataSubject: z
    .union([z.literal('token'), z.strictObject({ param: z.string().regex(/^\w+$/) })], {
      error: 'write the data subject as { param: id } (a parameter of the path) or token',
    })
    .optional(),
  /** Open to everyone; a token, if sent, is still verified. */
  public: z.boolean().optional(),
});

/**
 * How long Tokenwarden's own records are kept, declared once (see `policy/retention.ts` for what
 * each one applies to and the bounds `policy check` holds them to).
 */
const retentionSchema = z.strictObject({
  /** The audit trail: the Redis stream's trimming, rotated JSON-lines files. */
  audit: durationSchema.optional(),
  /** Events waiting in the spool for a sink that is down. */
  spool: durationSchema.optional(),
  /** A consent record after its withdrawal, as proof of what was agreed and withdrawn. */
  consentAfterWithdrawal: durationSchema.optional(),
  /** Revocation marks, past the expiry of every token they refuse. */
  revocationMarks: z
    .union([
      z.string().regex(/^\d+(ms|s|m|h|d)$/, 'write a duration like 0s, 12h or 7d'),
      z.number().int('a number of seconds must be whole').nonnegative(),
    ])
    .optional(),
});

/** The policy file, as written (durations unparsed). */
export const policySchema = z.strictObject({
  version: z.literal(1, 'the only policy version is 1'),
  /** `iss` of the tokens the deployment issues and accepts. */
  issuer: z.string().min(1),
  /** `aud` of those tokens. */
  audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
  /** The controller and how to reach them (and their DPO), for the records of processing. */
  controller: z
    .strictObject({
      name: z.string().min(1, 'name the controller'),
      contact: z.string().min(1, 'give a contact address'),
      dpo: z.string().min(1).optional(),
    })
    .optional(),
  limits: z
    .strictObject({
      maxTokenLifetime: durationSchema.default('15m'),
      maxApiKeyAge: durationSchema.default('90d'),
      clockTolerance: durationSchema.default('5s'),
      /** How long an unused refresh token stays valid (idle timeout). */
      refreshTokenLifetime: durationSchema.default('14d'),
      /** Absolute lifetime of a refresh-token family from its sign-in. */
      refreshFamilyLifetime: durationSchema.default('30d'),
    })
    .default({
      maxTokenLifetime: '15m',
      maxApiKeyAge: '90d',
      clockTolerance: '5s',
      refreshTokenLifetime: '14d',
      refreshFamilyLifetime: '30d',
    }),
  signing: z
    .strictObject({
      algorithm: z.enum(JWT_ALGORITHMS as unknown as [string, ...string[]]).default('ES256'),
      rotationPeriod: durationSchema.optional(),
      activationDelay: durationSchema.default('1m'),
      /** Encrypts signing keys shared through Redis. */
      masterKey: secretRefSchema.optional(),
      /** Previous master keys, still accepted for reading until everything is re-wrapped. */
      previousMasterKeys: z.array(secretRefSchema).optional(),
    })
    .default({ algorithm: 'ES256', activationDelay: '1m' }),
  scopes: z.record(name('scope'), scopeSchema),
  purposes: z.record(name('purpose'), purposeSchema).default({}),
  clients: z.record(name('client'), clientSchema).default({}),
  routes: z.array(routeSchema).optional(),
  /** How long Tokenwarden's own records are kept. */
  retention: retentionSchema.optional(),
});

/** The policy file as parsed by {@link policySchema}. */
export type PolicyDocument = z.output<typeof policySchema>;
