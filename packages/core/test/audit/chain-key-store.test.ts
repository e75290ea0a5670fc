import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { masterKey } from '@tokenwarden/core';
import {
  FileChainKeyStore,
  loadChainKey,
  rewrapChainKey,
  type Envelope,
} from '@tokenwarden/core/internal';

const file = () => join(mkdtempSync(join(tmpdir(), 'tw-chain-key-')), 'chain-key.json');

describe('the generated chain key, sealed by the master key', () => {
  it('is generated once, stored sealed (never in clear), and opened the same on every load', async () => {
    const path = file();
    const mk = masterKey(randomBytes(32));
    const first = await loadChainKey({ store: new FileChainKeyStore(path), masterKey: mk });
    expect(first).toHaveLength(32);
    const again = await loadChainKey({ store: new FileChainKeyStore(path), masterKey: mk });
    expect(again.equals(first)).toBe(true);
    const stored = readFileSync(path);
    expect(stored.includes(first)).toBe(false);
    expect(stored.toString('utf8')).not.toContain(first.toString('base64url'));
    expect((JSON.parse(stored.toString('utf8')) as Envelope).mk).toBe(mk.id);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('two nodes starting together agree on one key', async () => {
    const path = file();
    const mk = masterKey(randomBytes(32));
    const keys = await Promise.all(
      [1, 2, 3].map(() => loadChainKey({ store: new FileChainKeyStore(path), masterKey: mk })),
    );
    expect(keys[1]!.equals(keys[0]!) && keys[2]!.equals(keys[0]!)).toBe(true);
  });

  it('does not open with another master key, and a reader does not create one', async () => {
    const path = file();
    await loadChainKey({
      store: new FileChainKeyStore(path),
      masterKey: masterKey(randomBytes(32)),
    });
    await expect(
      loadChainKey({ store: new FileChainKeyStore(path), masterKey: masterKey(randomBytes(32)) }),
    ).rejects.toThrow(/sealed with master key mk-[0-9a-f]{16}, which is not configured/);
    await expect(
      loadChainKey({
        store: new FileChainKeyStore(file()),
        masterKey: masterKey(randomBytes(32)),
        create: false,
      }),
    ).rejects.toThrow(/no audit chain key is stored in file .*chain-key.json/);
  });

  it('is re-sealed with a new master key without changing', async () => {
    const path = file();
    const old = masterKey(randomBytes(32));
    const next = masterKey(randomBytes(32));
    const key = await loadChainKey({ store: new FileChainKeyStore(path), masterKey: old });
    const store = new FileChainKeyStore(path);
    expect(await rewrapChainKey({ store, masterKey: next, previousMasterKeys: [old] })).toBe(true);
    expect((await loadChainKey({ store, masterKey: next })).equals(key)).toBe(true);
    await expect(loadChainKey({ store, masterKey: old })).rejects.toThrow(/not configured/);
    expect(await rewrapChainKey({ store: new FileChainKeyStore(file()), masterKey: next })).toBe(
      false,
    );
  });
});
