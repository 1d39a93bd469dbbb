import { jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import type { TargetDescriptor } from "../../topology/index.js";
import { buildLoadConfig } from "./config.js";

const secret = "s".repeat(40);
const base: TargetDescriptor = {
  version: 1,
  topology: "collaborative",
  platform: "local",
  gatewayUrls: ["http://127.0.0.1:8080/", "http://127.0.0.1:8081"],
  auth: { kind: "jwt-hs256", secret, issuer: "kit", audience: "gw" },
  features: ["rooms", "room-lock"],
  settings: { idleTimeoutSeconds: 1, sessionTtlSeconds: 0, lockTtlSeconds: 30, lockWaitSeconds: 30, maxSessionsPerServer: 200, cliIdleTimeoutSeconds: 0 },
  servers: [{ id: "cli-0", address: "127.0.0.1:4321", connectionToken: "secret-token" }],
};

describe("buildLoadConfig", () => {
  it("mints a verifiable HS256 token per distinct user, with the run's rooms as a claim", async () => {
    const now = Date.now();
    const cfg = await buildLoadConfig(base, "room-contention", "smoke", { runId: "r1", now: () => now });
    expect(cfg.users).toHaveLength(8);
    expect(new Set(cfg.users.map((u) => u.id)).size).toBe(8);
    expect(cfg.rooms).toEqual(["load-r1-room0", "load-r1-room1"]);
    const { payload } = await jwtVerify(cfg.users[3]!.token, new TextEncoder().encode(secret), { issuer: "kit", audience: "gw" });
    expect(payload.sub).toBe("load-r1-u3");
    expect(payload.rooms).toEqual(cfg.rooms);
    // Valid for the whole run (15 s + 10 s grace) plus an hour, no longer.
    expect(payload.exp! - payload.iat!).toBe(25 + 3600);
    expect(cfg.gatewayUrls).toEqual(["http://127.0.0.1:8080", "http://127.0.0.1:8081"]);
    expect(cfg.servers).toEqual(["cli-0"]);
    expect(JSON.stringify(cfg)).not.toContain("secret-token");
  });

  it("uses the target's static tokens and flags that users repeat when there are too few", async () => {
    const cfg = await buildLoadConfig({ ...base, auth: { kind: "static", tokens: { alice: "a".repeat(20), bob: "b".repeat(20) } } }, "chat-ramp", "smoke");
    expect(cfg.users).toEqual([
      { id: "alice", token: "a".repeat(20) },
      { id: "bob", token: "b".repeat(20) },
    ]);
    expect(cfg.usersRepeat).toBe(true);
  });

  it("takes gateway URLs from the caller when given, and rejects a bad run id", async () => {
    const cfg = await buildLoadConfig(base, "soak", "smoke", { gatewayUrls: ["http://gw.svc:8080"] });
    expect(cfg.gatewayUrls).toEqual(["http://gw.svc:8080"]);
    expect(cfg.runId).toMatch(/^[0-9a-f]{8}$/);
    await expect(buildLoadConfig(base, "soak", "smoke", { runId: "Bad Id" })).rejects.toThrow(/runId "Bad Id" must be/);
  });
});
