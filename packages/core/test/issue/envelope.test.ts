import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  createSecretSource,
  EnvelopeError,
  masterKey,
  openSecret,
  sealSecret,
} from '@tokenwarden/core/internal';

describe('AES-256-GCM envelopes', () => {
  const key = masterKey(randomBytes(32));
  // A private key as a node would store it, generated for this run.
  const secret = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({
    type: 'pkcs8',
    format: 'der',
  });

  it('seals to bytes that do not contain the secret and opens them again', () => {
    const envelope = sealSecret(secret, key, 'kid-1');
    expect(envelope).toMatchObject({ v: 1, alg: 'A256GCM', mk: key.id });
    expect(JSON.stringify(envelope)).not.toContain(secret.toString('base64'));
    expect(JSON.stringify(envelope)).not.toContain(secret.toString('base64url'));
    expect(Buffer.from(envelope.ct, 'base64url').equals(secret)).toBe(false);
    expect(openSecret(envelope, [key], 'kid-1').equals(secret)).toBe(true);
    // A fresh nonce each time.
    expect(sealSecret(secret, key, 'kid-1').iv).not.toBe(envelope.iv);
  });

  it('fails loudly with the wrong master key, a tampered byte or another record', () => {
    const envelope = sealSecret(secret, key, 'kid-1');
    const other = masterKey(randomBytes(32));
    expect(() => openSecret(envelope, [other], 'kid-1')).toThrow(/not configured/);
    const forged = { ...envelope, mk: other.id };
    expect(() => openSecret(forged, [other], 'kid-1')).toThrow(EnvelopeError);
    const ct = Buffer.from(envelope.ct, 'base64url');
    ct[0] = (ct[0] as number) ^ 1;
    expect(() => openSecret({ ...envelope, ct: ct.toString('base64url') }, [key], 'kid-1')).toThrow(
      /does not authenticate/,
    );
    expect(() => openSecret(envelope, [key], 'kid-2')).toThrow(/does not authenticate/);
  });

  it('takes master keys as base64url or hex text, derives a stable id, refuses anything else', () => {
    const bytes = randomBytes(32);
    expect(masterKey(bytes.toString('base64url')).id).toBe(masterKey(bytes).id);
    expect(masterKey(bytes.toString('hex') + '\n').id).toBe(masterKey(bytes).id);
    expect(masterKey(bytes).id).not.toContain(bytes.toString('hex').slice(0, 8));
    expect(() => masterKey('correct horse battery staple')).toThrow(ConfigError);
    expect(() => masterKey(randomBytes(16))).toThrow(/32 random bytes/);
  });
});

describe('createSecretSource', () => {
  it('reads environment variables, files and registered sources, never echoing values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tw-secret-'));
    try {
      writeFileSync(join(dir, 'secret'), 'from-file\n');
      const source = createSecretSource({
        env: { TW_SECRET: 'from-env' },
        sources: { vault: async (name) => `vault:${name}` },
      });
      expect((await source.read({ env: 'TW_SECRET' })).toString()).toBe('from-env');
      expect((await source.read({ file: join(dir, 'secret') })).toString()).toBe('from-file');
      expect((await source.read({ source: 'vault', name: 'kv/a' })).toString()).toBe('vault:kv/a');
      await expect(source.read({ env: 'MISSING' })).rejects.toThrow(/MISSING is not set/);
      await expect(source.read({ file: join(dir, 'nope') })).rejects.toThrow(/ENOENT/);
      await expect(source.read({ source: 'kms', name: 'x' })).rejects.toThrow(
        /no secret source 'kms'/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
