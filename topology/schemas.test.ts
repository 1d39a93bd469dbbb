import { describe, expect, it } from "vitest";
import { parseGatewayConfig } from "./gateway-config.js";
import { parseTarget } from "./target.js";
import { PROFILES, TOPOLOGIES, TOPOLOGY_NAMES } from "./index.js";

const target = {
  version: 1,
  topology: "shared",
  platform: "local",
  gatewayUrls: ["http://127.0.0.1:8080"],
  auth: { kind: "jwt-hs256", secret: "x".repeat(32) },
  features: ["sessions"],
  settings: { idleTimeoutSeconds: 0, sessionTtlSeconds: 0, lockTtlSeconds: 10, lockWaitSeconds: 30, maxSessionsPerServer: 10, cliIdleTimeoutSeconds: 0 },
  servers: [{ id: "cli-0", address: "127.0.0.1:4321", connectionToken: "t" }],
};

describe("target descriptor", () => {
  it("accepts a valid descriptor", () => {
    expect(parseTarget(target).topology).toBe("shared");
  });
  it("names every bad key", () => {
    const bad = { ...target, topology: "mesh", gatewayUrls: ["not a url"], auth: { kind: "jwt-hs256", secret: "short" }, features: ["teleport"] };
    const message = (() => {
      try {
        parseTarget(bad, "t.json");
        return "";
      } catch (err) {
        return (err as Error).message;
      }
    })();
    for (const key of ["topology", "gatewayUrls.0", "auth.secret", "features.0"]) expect(message).toContain(`${key}:`);
    expect(message).toContain("t.json");
  });
});

describe("gateway config", () => {
  it("fills defaults and rejects unknown topologies with the key named", () => {
    const cfg = parseGatewayConfig({ topology: "sticky", backends: { kind: "static", servers: [{ id: "cli-0", address: "h:1", tokenEnv: "CLI_TOKEN_CLI_0" }] } });
    expect(cfg.port).toBe(8080);
    expect(cfg.lifecycle.idleTimeoutSeconds).toBe(0);
    expect(cfg.toolPermissions).toBe("deny");
    expect(() => parseGatewayConfig({ topology: "x", backends: { kind: "static", servers: [] } })).toThrow(/topology:/);
    expect(() => parseGatewayConfig({ topology: "shared", backends: { kind: "static", servers: [{ id: "Bad Id", address: "h", tokenEnv: "x" }] } })).toThrow(/backends.servers.0.id/);
  });

  it("takes an oidc issuer and names what an oidc config lacks", () => {
    const backends = { kind: "static", servers: [{ id: "cli-0", address: "h:1", tokenEnv: "CLI_TOKEN_CLI_0" }] };
    const cfg = parseGatewayConfig({ topology: "shared", backends, auth: { kind: "oidc", issuer: "https://id.example", audience: "gw" } });
    expect([cfg.auth.algorithms, cfg.auth.userClaim]).toEqual([["RS256", "ES256"], "sub"]);
    expect(() => parseGatewayConfig({ topology: "shared", backends, auth: { kind: "oidc", issuer: "https://id.example" } })).toThrow(/auth.issuer: auth.kind oidc needs .*auth.audience/);
    expect(() => parseGatewayConfig({ topology: "shared", backends, auth: { kind: "oidc", issuer: "i", audience: "a", jwksUri: "ftp://x" } })).toThrow(/auth.jwksUri/);
  });
});

describe("topologies and profiles", () => {
  it("has a profile per topology whose core includes the core API", () => {
    for (const t of TOPOLOGY_NAMES) {
      expect(TOPOLOGIES[t].name).toBe(t);
      expect(PROFILES[t].core).toContain("session-isolation");
    }
  });
});
