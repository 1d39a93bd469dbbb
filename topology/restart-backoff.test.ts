/** The shared restart backoff: doubles per failure in a row from the base, never past the cap. */
import { describe, expect, it } from "vitest";
import { restartBackoffMs } from "./restart-backoff.js";

describe("restart backoff", () => {
  it("starts at the base, doubles with each failure in a row, and stops at the cap", () => {
    expect([1, 2, 3, 4, 5, 6, 7, 8].map((n) => restartBackoffMs(n, 500, 30_000))).toEqual([500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000]);
    expect(restartBackoffMs(0, 250, 10_000), "no failure yet: the base").toBe(250);
    expect(restartBackoffMs(40, 250, 10_000)).toBe(10_000);
  });
});
