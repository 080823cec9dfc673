/**
 * Self-contained: `npx jest test/X.test.ts` works without NODE_OPTIONS. The parquet readers (hyparquet,
 * hyparquet-compressors, hysnappy) are ESM-only; ts-jest compiles them and our dynamic `import()` of them to CommonJS
 * (tsconfig.jest.json), so no test needs --experimental-vm-modules.
 */
const ESM_ONLY = ['hyparquet', 'hyparquet-compressors', 'hysnappy'];
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.jest.json' }];

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  transform: { '^.+\\.ts$': tsJest, [`/node_modules/(${ESM_ONLY.join('|')})/.+\\.js$`]: tsJest },
  transformIgnorePatterns: [`/node_modules/(?!(${ESM_ONLY.join('|')})/)`],
  setupFiles: ['<rootDir>/test/helpers/disposable.js'],
  testTimeout: 600000,
  reporters: ['default', '<rootDir>/test/helpers/summary-reporter.js'],
};
