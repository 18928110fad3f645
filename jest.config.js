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
  setupFiles: ['<rootDir>/shared/jest-setup.ts'],
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
        '<rootDir>/0*-*/**/*.test.ts',
        '<rootDir>/shared/**/*.test.ts',
        '<rootDir>/scripts/**/*.test.ts',
      ],
      testPathIgnorePatterns: ['\\.restart\\.test\\.ts$'],
    },
    {
      // Tests that restart the broker run alone and last (npm test runs this project second).
      ...common,
      displayName: 'broker-restart',
      testMatch: ['<rootDir>/0*-*/**/*.restart.test.ts'],
    },
  ],
};
