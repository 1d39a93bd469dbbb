import { defineConfig } from "vitest/config";

// Unit tests: pure code, Pulumi mocks, the gateway in-process. The conformance suite has its own config.
export default defineConfig({
  test: {
    include: ["{topology,gateway,local,components,stacks,scripts,testing}/**/*.test.ts", "conformance/*.test.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
  },
});
