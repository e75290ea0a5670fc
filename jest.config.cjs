/** One root config: every test runs against the TypeScript sources. */
const swc = [
  '@swc/jest',
  {
    // Legacy decorators for @tokenwarden/nest. No design:paramtypes on purpose: tsup (esbuild)
    // emits none either, so the tests prove every injection is an explicit @Inject.
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: false },
      target: 'es2022',
    },
    module: { type: 'commonjs' },
  },
];

module.exports = {
  testEnvironment: 'node',
  transform: { '^.+\\.(t|j)s$': swc },
  // Nest 12 and cookie 2 (via Fastify) ship ESM only: transform them to CommonJS too.
  transformIgnorePatterns: ['/node_modules/(?!\\.pnpm|@nestjs|cookie/)'],
  moduleNameMapper: {
    '^(\\.{1,2}/.*)\\.js$': '$1',
    // Subpath entries of @tokenwarden/core, before the package entries.
    '^@tokenwarden/core/policy$': '<rootDir>/packages/core/src/policy-file.ts',
    '^@tokenwarden/core/reports$': '<rootDir>/packages/core/src/reports.ts',
    '^@tokenwarden/core/internal$': '<rootDir>/packages/core/src/internal.ts',
    '^@tokenwarden/(core|redis|express|koa|nest|testing|cli)$':
      '<rootDir>/packages/$1/src/index.ts',
  },
  // The long runs (a million-event trail) have their own command, `pnpm test:long`.
  testPathIgnorePatterns:
    process.env.TOKENWARDEN_LONG_TESTS === '1'
      ? ['/node_modules/']
      : ['/node_modules/', '\\.long\\.test\\.ts$'],
  testMatch: [
    '<rootDir>/packages/*/test/**/*.test.ts',
    '<rootDir>/examples/*/test/**/*.test.ts',
    '<rootDir>/test/**/*.test.ts',
  ],
  // Builds stale packages once, for the tests of the built output.
  globalSetup: '<rootDir>/scripts/jest-global-setup.cjs',
  testTimeout: 30000,
};
