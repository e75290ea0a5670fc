import { readFile } from 'node:fs/promises';
import { ConfigError } from '../errors';

/**
 * Where a secret lives, as a policy file names it: an environment variable, a file, or a named
 * entry of a source you register (a vault, a cloud KMS). The policy never holds the secret itself.
 */
export type SecretRef =
  | { readonly env: string }
  | { readonly file: string }
  | { readonly source: string; readonly name: string };

/**
 * Reads secrets. Implement it to back secrets with HashiCorp Vault or a cloud KMS without
 * forking: a `{ source: 'vault', name: 'kv/tokenwarden#master' }` reference goes to the source
 * registered as `vault`.
 */
export interface SecretSource {
  /** The secret's bytes. Rejects with a {@link ConfigError} naming the reference, never the value. */
  read(ref: SecretRef): Promise<Buffer>;
}

/** Reads one named secret from a custom backend (vault, KMS). */
export type NamedSecretReader = (name: string) => Promise<string | Buffer>;

/** Options of {@link createSecretSource}. */
export interface SecretSourceOptions {
  /** Environment to read `{ env }` references from. Default: `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Custom backends by source name, for `{ source, name }` references. Default: none. */
  readonly sources?: Readonly<Record<string, NamedSecretReader>>;
}

/** A short description of a reference, for messages (names where, never what). */
export function describeSecretRef(ref: SecretRef): string {
  if ('env' in ref) return `environment variable ${ref.env}`;
  if ('file' in ref) return `file ${ref.file}`;
  return `secret '${ref.name}' of source '${ref.source}'`;
}

/**
 * The default {@link SecretSource}: environment variables and files (trailing newline trimmed),
 * plus any custom backends you pass.
 *
 * @example
 * const secrets = createSecretSource({ sources: { vault: (name) => vaultClient.read(name) } });
 */
export function createSecretSource(options: SecretSourceOptions = {}): SecretSource {
  const env = options.env ?? process.env;
  const sources = options.sources ?? {};
  return {
    async read(ref) {
      if ('env' in ref) {
        const value = env[ref.env];
        if (value === undefined || value === '') {
          throw new ConfigError(
            `${describeSecretRef(ref)} is not set; set it or change the policy`,
          );
        }
        return Buffer.from(value, 'utf8');
      }
      if ('file' in ref) {
        try {
          const bytes = await readFile(ref.file);
          return trimNewline(bytes);
        } catch (error) {
          throw new ConfigError(
            `cannot read ${describeSecretRef(ref)} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
          );
        }
      }
      const reader = sources[ref.source];
      if (reader === undefined) {
        throw new ConfigError(
          `${describeSecretRef(ref)}: no secret source '${ref.source}' is registered; pass it in createSecretSource({ sources })`,
        );
      }
      let value: string | Buffer;
      try {
        value = await reader(ref.name);
      } catch (error) {
        throw new ConfigError(
          `${describeSecretRef(ref)} could not be read: ${error instanceof Error ? error.name : 'error'}`,
        );
      }
      return Buffer.isBuffer(value) ? value : Buffer.from(value, 'utf8');
    },
  };
}

function trimNewline(bytes: Buffer): Buffer {
  let end = bytes.length;
  while (end > 0 && (bytes[end - 1] === 0x0a || bytes[end - 1] === 0x0d)) end--;
  return bytes.subarray(0, end);
}
