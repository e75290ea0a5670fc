import { defineConfig } from 'tsup';

/**
 * One build, several entry points. Each key is the name of a `dist/<key>.{js,cjs,d.ts,d.cts}`
 * file and matches a subpath in package.json `exports`:
 * - `index`: `@tokenwarden/core`, the request path;
 * - `policy`: `@tokenwarden/core/policy`, reading and checking the policy file (yaml, zod);
 * - `reports`: `@tokenwarden/core/reports`, the accountability reports and audit sources;
 * - `internal`: `@tokenwarden/core/internal`, shared by Tokenwarden's own packages, not for applications.
 * To add an entry, add it here, to `exports` and to `typesVersions` (read by TypeScript's
 * `node10` resolution, which ignores `exports`).
 */
const entry = {
  index: 'src/index.ts',
  policy: 'src/policy-file.ts',
  reports: 'src/reports.ts',
  internal: 'src/internal.ts',
};

export default defineConfig({
  entry,
  format: ['esm', 'cjs'],
  dts: true,
  clean: true,
  tsconfig: 'tsconfig.json',
  // Code used by several entries goes into shared chunks, in CommonJS as in ESM: an error class
  // or a store class is then one class whichever entry it is imported through, so `instanceof`
  // holds across entries.
  splitting: true,
});
