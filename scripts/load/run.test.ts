import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FEATURES, type TargetDescriptor } from "../../topology/index.js";
import { buildLoadConfig } from "./config.js";
import { findK6, judge, K6_THRESHOLDS_FAILED, parseLoadArgs, runScenario } from "./run.js";
import { LOAD_SCRIPTS_DIR, PROFILE_NAMES, SCENARIO_NAMES, SCENARIOS } from "./scenarios.js";
import type { LoadSummary } from "./summary.js";

describe("parseLoadArgs", () => {
  it("expands all and comma lists, defaults to smoke", () => {
    const a = parseLoadArgs(["--target", "t.json", "--scenario", "all"]);
    expect(a.scenarios).toHaveLength(5);
    expect(a.profile).toBe("smoke");
    expect(parseLoadArgs(["--target", "t", "--scenario", "soak,chat-ramp", "--profile", "full"]).scenarios).toEqual(["soak", "chat-ramp"]);
  });
  it("names the bad value", () => {
    expect(() => parseLoadArgs(["--target", "t", "--scenario", "nope"])).toThrow(/unknown scenario "nope"/);
    expect(() => parseLoadArgs(["--target", "t", "--scenario", "soak", "--profile", "huge"])).toThrow(/unknown profile "huge"/);
    expect(() => parseLoadArgs(["--scenario", "soak"])).toThrow(/--target is required/);
  });
});

function summary(over: Partial<LoadSummary>): LoadSummary {
  return { version: 1, scenario: "soak", profile: "smoke", runId: "r", topology: "shared", ok: true, durationMs: 1, thresholds: [], checks: [], invariants: [], report: {}, metrics: {}, ...over };
}

describe("judge", () => {
  const dir = mkdtempSync(join(tmpdir(), "judge-"));
  const write = (s: LoadSummary) => writeFileSync(join(dir, "summary.json"), JSON.stringify(s));

  it("fails on k6 exit 99 and names the breached thresholds", () => {
    write(summary({ thresholds: [{ metric: "history_ok", expr: "rate==1", ok: false }] }));
    expect(judge("soak", dir, K6_THRESHOLDS_FAILED)).toMatchObject({ outcome: "fail", reason: "thresholds breached: history_ok rate==1" });
  });
  it("fails on a broken invariant even when k6 passed", () => {
    write(summary({ invariants: [{ name: "room r turns are 1..N", ok: false, detail: "sum 11 (want 10)" }] }));
    expect(judge("soak", dir, 0)).toMatchObject({ outcome: "fail", reason: "invariants broken: room r turns are 1..N: sum 11 (want 10)" });
  });
  it("fails when k6 wrote no summary (script error), passes a clean run", () => {
    expect(judge("soak", join(dir, "missing"), 107).reason).toMatch(/k6 exited 107 without writing/);
    write(summary({ thresholds: [{ metric: "history_ok", expr: "rate==1", ok: true }] }));
    expect(judge("soak", dir, 0).outcome).toBe("pass");
  });
});

/** A gateway that loses a session's history after its second message, as a dropped resume would. */
function historyLosingGateway(): Server {
  const turns = new Map<string, number>();
  let next = 0;
  return createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      const send = (status: number, data?: unknown) => {
        res.writeHead(status, { "content-type": "application/json" });
        res.end(data === undefined ? "" : JSON.stringify(data));
      };
      const msg = /^\/v1\/sessions\/([^/]+)\/messages$/.exec(req.url ?? "");
      if (req.method === "POST" && req.url === "/v1/sessions") {
        const id = `s${next++}`;
        turns.set(id, 0);
        return send(201, { sessionId: id });
      }
      if (req.method === "POST" && msg) {
        const n = (turns.get(msg[1]!) ?? 0) + 1;
        turns.set(msg[1]!, n === 2 ? 0 : n); // the history is gone after message 2
        return send(200, { sessionId: msg[1], content: `Mock model reply.\nturn=${n} prompt=${JSON.parse(body).prompt}` });
      }
      if (req.method === "DELETE") return send(204);
      send(404, { error: { code: "route_not_found", message: "no route" } });
    });
  });
}

let k6: string | undefined;
try {
  k6 = findK6();
} catch {
  k6 = undefined;
}

describe.skipIf(!k6)("scenario scripts in real k6 (scripts/install-k6.sh)", () => {
  const everything: TargetDescriptor = {
    version: 1,
    topology: "sticky",
    platform: "local",
    gatewayUrls: ["http://127.0.0.1:9"],
    auth: { kind: "jwt-hs256", secret: "k".repeat(32) },
    features: [...FEATURES],
    settings: { idleTimeoutSeconds: 0, sessionTtlSeconds: 0, lockTtlSeconds: 30, lockWaitSeconds: 30, maxSessionsPerServer: 200, cliIdleTimeoutSeconds: 0 },
    servers: [
      { id: "a", address: "127.0.0.1:1", connectionToken: "t" },
      { id: "b", address: "127.0.0.1:2", connectionToken: "t" },
    ],
  };
  const dir = mkdtempSync(join(tmpdir(), "load-inspect-"));

  it.each(SCENARIO_NAMES.flatMap((s) => PROFILE_NAMES.map((p) => [s, p] as const)))("%s (%s): k6 accepts the options and the run lasts as declared", async (name, profile) => {
    const path = join(dir, `${name}-${profile}.json`);
    writeFileSync(path, JSON.stringify(await buildLoadConfig(everything, name, profile)));
    const out = execFileSync(k6!, ["inspect", "--execution-requirements", "-e", `LOAD_CONFIG=${path}`, join(LOAD_SCRIPTS_DIR, SCENARIOS[name].file)], { encoding: "utf8" });
    const inspected = JSON.parse(out) as { totalDuration: string; maxVUs: number };
    // k6's own bound on the wall time, e.g. "25s" or "1h2m0s", graceful stop included.
    const [, h = "0", m = "0", sec = "0"] = /^(?:(\d+)h)?(?:(\d+)m)?(?:([\d.]+)s)?$/.exec(inspected.totalDuration)!;
    expect(Number(h) * 3600 + Number(m) * 60 + Number(sec)).toBeLessThanOrEqual(SCENARIOS[name].resolve(profile).maxDurationS);
    expect(inspected.maxVUs).toBeGreaterThan(0);
  });
});

describe.skipIf(!k6)("chat-ramp with real k6 (scripts/install-k6.sh)", () => {
  let server: Server;
  let url: string;
  beforeAll(async () => {
    server = historyLosingGateway();
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("fails its history check, aborting early with exit 99, when the gateway loses history", async () => {
    const target: TargetDescriptor = {
      version: 1,
      topology: "shared",
      platform: "local",
      gatewayUrls: [url],
      auth: { kind: "jwt-hs256", secret: "k".repeat(32) },
      features: ["sessions", "persistence"],
      settings: { idleTimeoutSeconds: 0, sessionTtlSeconds: 0, lockTtlSeconds: 30, lockWaitSeconds: 30, maxSessionsPerServer: 200, cliIdleTimeoutSeconds: 0 },
      servers: [],
    };
    const reportRoot = mkdtempSync(join(tmpdir(), "load-neg-"));
    const started = Date.now();
    const r = await runScenario(target, "chat-ramp", { target: "-", scenarios: ["chat-ramp"], profile: "smoke", reportRoot, strict: true });
    expect(r).toMatchObject({ outcome: "fail", k6Exit: K6_THRESHOLDS_FAILED });
    expect(r.reason).toContain("history_ok rate==1");
    expect(Date.now() - started).toBeLessThan(20_000); // abortOnFail, not the full 35 s
    const s = JSON.parse(readFileSync(join(r.reportDir, "summary.json"), "utf8")) as LoadSummary;
    const check = s.checks.find((c) => c.name === "turn number rises by one per message")!;
    expect(check.fails).toBeGreaterThan(0);
    expect(readFileSync(join(r.reportDir, "junit.xml"), "utf8")).toMatch(/<failure message="threshold breached"/);
  }, 40_000);
});
