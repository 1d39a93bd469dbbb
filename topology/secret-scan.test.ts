import { describe, expect, it } from "vitest";
import { findSecrets, maskSecret, secretNeedles } from "./secret-scan.js";

describe("secretNeedles", () => {
  it("adds a URL's password and a JSON map's values, drops short strings", () => {
    const needles = secretNeedles(["rediss://:TESTredisPassword42@redis.example.net:6380/0", '{"alice":"alice-token-0123456789","bob":"short"}', "tiny"]);
    expect(needles).toEqual(
      expect.arrayContaining(["rediss://:TESTredisPassword42@redis.example.net:6380/0", "TESTredisPassword42", "alice-token-0123456789"]),
    );
    expect(needles).not.toContain("short");
    expect(needles).not.toContain("tiny");
  });

  it("decodes a percent-encoded password", () => {
    expect(secretNeedles(["redis://:p%40ss-word-0123@h:6379"])).toContain("p@ss-word-0123");
  });
});

describe("findSecrets", () => {
  it("names what it found without the value", () => {
    const found = findSecrets("log line with TESTredisPassword42 in it", ["TESTredisPassword42", "not-there-at-all"], "gateway-0.log");
    expect(found).toEqual([`${maskSecret("TESTredisPassword42")} in gateway-0.log`]);
    expect(found.join()).not.toContain("TESTredisPassword42");
  });
});
