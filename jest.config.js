/**
 * Two runs in one: every test on SQLite, then the in-process suites again on PostgreSQL (each test
 * file starts its own cluster: test/support/postgres.ts). What only SQLite has (its file, its query
 * plans) and what drives real daemons (test/e2e, with its own PostgreSQL tests) runs once.
 */
const base = {
  preset: 'ts-jest',
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  transform: { '^.+\\.ts$': ['ts-jest', {}] },
};

/** @type {import('jest').Config} */
module.exports = {
  // A global option: projects do not take it.
  testTimeout: 30000,
  testSequencer: '<rootDir>/test/support/sequencer.js',
  // The crash tests' worlds (test/e2e/rotation-crash.test.ts, the only concurrent tests) three at a
  // time: five at once beside the rest of the suite starved the browser and CLI tests of 2 cores.
  maxConcurrency: 3,
  projects: [
    { ...base, displayName: 'sqlite' },
    {
      ...base,
      displayName: 'postgres',
      setupFiles: ['<rootDir>/test/support/use-postgres.ts'],
      testPathIgnorePatterns: [
        '/node_modules/',
        '<rootDir>/test/e2e/',
        // A real browser on the portal: one run is its cost; what the pages call is tested on both stores in-process.
        '\\.browser\\.test\\.ts$',
        '<rootDir>/test/store/',
        '<rootDir>/test/agent/',
        '<rootDir>/test/config/',
        // Copies and edits the SQLite file itself.
        '<rootDir>/test/audit/audit-chain.property.test.ts',
        // SQLite's query plans over a 1,000-device fleet; the same scheduler runs on PostgreSQL in rotation.test.ts.
        '<rootDir>/test/credentials/rotation-fleet.test.ts',
        // No store at all.
        '<rootDir>/test/credentials/password-generator.test.ts',
        '<rootDir>/test/identity/verified-token-cache.test.ts',
        '<rootDir>/test/vault/fake-key-vault.test.ts',
        '<rootDir>/test/vault/azure-key-vault.test.ts',
        '<rootDir>/test/vault/instrumented-vault.test.ts',
        // Azure credentials against the local authority; its one start-up refusal does not depend on the store.
        '<rootDir>/test/vault/azure-credential.test.ts',
        // Opens its own SQLite store.
        '<rootDir>/test/vault/local-vault.test.ts',
      ],
    },
  ],
};
