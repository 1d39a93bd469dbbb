import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PROFILES, type TargetDescriptor } from "../../topology/index.js";
import { K6_MODULES, LOAD_SCRIPTS_DIR, PROFILE_NAMES, SCENARIO_NAMES, SCENARIOS, unsupportedReason } from "./scenarios.js";

function target(topology: TargetDescriptor["topology"], servers = 1): TargetDescriptor {
  const p = PROFILES[topology];
  return {
    version: 1,
    name: "t",
    topology,
    platform: "local",
    gatewayUrls: ["http://127.0.0.1:1"],
    auth: { kind: "jwt-hs256", secret: "x".repeat(32) },
    features: [...p.core, ...p.extended],
    settings: { idleTimeoutSeconds: 0, sessionTtlSeconds: 0, lockTtlSeconds: 30, lockWaitSeconds: 30, maxSessionsPerServer: 200, cliIdleTimeoutSeconds: 0 },
    servers: Array.from({ length: servers }, (_, i) => ({ id: `s${i}`, address: `127.0.0.1:${4000 + i}`, connectionToken: "t" })),
  };
}

describe("load scenarios", () => {
  it.each(SCENARIO_NAMES)("%s: the smoke profile stays under 60 s and is lighter than full", (name) => {
    const smoke = SCENARIOS[name].resolve("smoke");
    const full = SCENARIOS[name].resolve("full");
    expect(smoke.maxDurationS).toBeLessThanOrEqual(60);
    expect(full.maxDurationS).toBeGreaterThan(smoke.maxDurationS);
    expect(full.users).toBeGreaterThan(smoke.users);
  });

  it.each(PROFILE_NAMES)("every VU acts as its own user (%s)", (profile) => {
    const r = SCENARIOS["chat-ramp"].resolve(profile);
    const stages = r.params.stages as { target: number }[];
    expect(r.users).toBe(Math.max(...stages.map((s) => s.target)));
    expect(SCENARIOS["room-contention"].resolve(profile).rooms).toBeGreaterThan(0);
  });

  it("each topology serves the scenarios it claims features for", () => {
    const served = (t: TargetDescriptor) => SCENARIO_NAMES.filter((n) => unsupportedReason(SCENARIOS[n], t) === undefined);
    expect(served(target("shared"))).toEqual(["chat-ramp", "ephemeral-burst", "soak"]);
    expect(served(target("collaborative"))).toContain("room-contention");
    expect(served(target("sticky", 3))).toContain("sticky-spread");
  });

  it("says why a target cannot serve a scenario", () => {
    expect(unsupportedReason(SCENARIOS["room-contention"], target("shared"))).toBe(
      "scenario room-contention needs feature(s) rooms, room-lock, which target t (topology shared, platform local) does not claim",
    );
    expect(unsupportedReason(SCENARIOS["sticky-spread"], target("sticky", 1))).toMatch(/needs at least 2 CLI servers; .* lists 1/);
  });
});

describe("k6 module closure", () => {
  const imports = (file: string) =>
    [...readFileSync(join(LOAD_SCRIPTS_DIR, file), "utf8").matchAll(/^import [^;]*? from "\.\/([^"]+)";/gm)].map((m) => m[1]!);

  it.each(SCENARIO_NAMES)("%s needs only K6_MODULES (what the LoadTest ConfigMap carries)", (name) => {
    const seen = new Set<string>();
    const queue = [SCENARIOS[name].file];
    while (queue.length) {
      const f = queue.pop()!;
      for (const dep of imports(f)) {
        if (seen.has(dep)) continue;
        seen.add(dep);
        queue.push(dep);
      }
    }
    expect([...seen].sort()).toEqual([...K6_MODULES].sort());
  });
});
