/** Environment the runner hands to the test workers (kept apart from harness.ts, which imports vitest). */
export const TARGET_ENV = "CONFORMANCE_TARGET";
export const REPORT_DIR_ENV = "CONFORMANCE_REPORT_DIR";
/** --features: a comma-separated list; a test that declares none of them is skipped. */
export const FEATURES_ENV = "CONFORMANCE_FEATURES";
