/** Tests transpile only (isolatedModules); `npm run typecheck` does the full type check. */
module.exports = {
  testEnvironment: "node",
  roots: ["<rootDir>/test", "<rootDir>/attestation-verifier/test", "<rootDir>/job-service/test"],
  testMatch: ["**/*.test.ts"],
  // .ts first: bin/manatee.js is a shim over dist/; tests load the TypeScript sources.
  moduleFileExtensions: ["ts", "js", "json"],
  setupFilesAfterEnv: ["<rootDir>/test/setup-jest.ts"],
  transform: {
    "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.test.json" }],
    // jose 6 ships ESM only; Node's require(esm) works at runtime but not inside jest's module registry.
    "/node_modules/jose/.+\\.js$": [
      "ts-jest",
      { tsconfig: { allowJs: true, module: "CommonJS", target: "ES2022", isolatedModules: true } },
    ],
  },
  transformIgnorePatterns: ["/node_modules/(?!jose/)"],
  testTimeout: 30000,
  maxWorkers: 2,
};
