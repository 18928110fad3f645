// Jest runs the TypeScript sources as ESM through SWC (fast, no type-check: `npm run typecheck` does that).
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
  ],
};
const common = {
  extensionsToTreatAsEsm: ['.ts'],
  transform,
  testEnvironment: 'node',
  setupFiles: ['<rootDir>/test/jest-setup.ts'],
};

export default {
  maxWorkers: 2,
  // A limit for a test that hangs, not a speed target: tests wait on events, and a busy 2-core
  // machine can make a broker round trip slow.
  testTimeout: 120_000,
  projects: [
    {
      ...common,
      displayName: 'lessons',
      testMatch: [
        '<rootDir>/[0-9][0-9]-*/**/*.test.ts',
        '<rootDir>/shared/**/*.test.ts',
        '<rootDir>/scripts/**/*.test.ts',
        '<rootDir>/test/**/*.test.ts',
      ],
      testPathIgnorePatterns: [
        '\\.restart\\.test\\.ts$',
        '\\.drill\\.test\\.ts$',
        '\\.cluster\\.test\\.ts$',
        '<rootDir>/test/readme-commands\\.test\\.ts$',
      ],
    },
    {
      // Every README command as a learner types it, in a scratch clone, against a private node: last.
      ...common,
      displayName: 'readme',
      testMatch: ['<rootDir>/test/readme-commands.test.ts'],
    },
    {
      // Fault drills: each file restarts or kills a private RabbitMQ node of its own (its own slot
      // of test/private-broker.ts), so files may run side by side and the learner's broker is never
      // touched.
      ...common,
      displayName: 'drills',
      testMatch: ['<rootDir>/[0-9][0-9]-*/**/*.drill.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/long-tests.ts'],
    },
    {
      // Tests that restart the broker run alone and last (npm test runs this project last).
      ...common,
      displayName: 'broker-restart',
      testMatch: ['<rootDir>/[0-9][0-9]-*/**/*.restart.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/long-tests.ts'],
    },
    {
      // The drills on lesson 07's three-node cluster (npm run test:cluster; lesson 05's leader drill
      // too): they kill nodes, so they run alone, one file at a time (their runner is serial however
      // Jest is started), after the cluster is up.
      ...common,
      displayName: 'cluster',
      runner: '<rootDir>/test/serial-runner.cjs',
      testMatch: ['<rootDir>/[0-9][0-9]-*/**/*.cluster.test.ts', '<rootDir>/scripts/**/*.cluster.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/long-tests.ts'],
    },
  ],
};
