import { defineConfig } from "vitest/config";

// Conformance runs against one live target: files run one after another, because fault tests
// kill and restart processes that every test shares.
export default defineConfig({
  test: {
    include: ["conformance/suites/**/*.test.ts"],
    fileParallelism: false,
    sequence: { concurrent: false },
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    poolOptions: { forks: { singleFork: true } },
  },
});
