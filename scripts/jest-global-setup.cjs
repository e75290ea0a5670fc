'use strict';
// Jest global setup: runs once, before any test file. Tests that exercise the built packages
// (packaging, the Nest dist test) need dist/ to match src/; this builds the stale packages in one
// go, so no two test files race to rebuild. `pnpm test` builds first, so there it does nothing.
const { spawnSync } = require('node:child_process');
const { existsSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

const ROOT = join(__dirname, '..');
const PUBLISHED = ['core', 'express', 'koa', 'nest', 'redis'];
const OUTPUTS = ['index.js', 'index.cjs', 'index.d.ts', 'index.d.cts'];

function newest(dir) {
  let latest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    latest = Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
  }
  return latest;
}

function isStale(pkg) {
  const outputs = OUTPUTS.map((file) => join(ROOT, 'packages', pkg, 'dist', file));
  if (!outputs.every((file) => existsSync(file))) return true;
  const builtAt = Math.min(...outputs.map((file) => statSync(file).mtimeMs));
  return newest(join(ROOT, 'packages', pkg, 'src')) > builtAt;
}

module.exports = function buildStalePackages() {
  // The audit chain is keyed by default and a warden with audit sinks needs a chain key: one
  // random key per run, inherited by the test workers and the CLI processes they start.
  if (!process.env.TOKENWARDEN_AUDIT_CHAIN_KEY) {
    process.env.TOKENWARDEN_AUDIT_CHAIN_KEY = require('node:crypto')
      .randomBytes(32)
      .toString('base64url');
  }
  // For runs of source-only tests while the packages are being changed: TOKENWARDEN_SKIP_BUILD=1.
  if (process.env.TOKENWARDEN_SKIP_BUILD === '1') return;
  // A stale core makes every package that bundles against it stale too: rebuild them all.
  if (!PUBLISHED.some(isStale)) return;
  const filters = PUBLISHED.flatMap((pkg) => ['--filter', `@tokenwarden/${pkg}`]);
  const result = spawnSync('pnpm', ['-r', ...filters, 'run', 'build'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    timeout: 180_000,
  });
  if (result.status !== 0) throw new Error('building the packages for the dist tests failed');
};
