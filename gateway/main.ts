/**
 * Gateway entry point: `serve` (default) runs the HTTP gateway until SIGTERM/SIGINT, then drains;
 * `cleanup` runs one TTL cleanup pass and exits (the Kubernetes CronJob).
 * Config: JSON in GATEWAY_CONFIG, or `--config <file>`; secrets in their own env vars.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { GATEWAY_CONFIG_ENV, parseGatewayConfig } from "../topology/gateway-config.js";
import { runCleanup } from "./cleanup.js";
import { createMetrics } from "./metrics.js";
import { createGateway, createPool, createStore, gatewayLogger, UNSAFE_SWITCHES } from "./server.js";
import { SessionManager } from "./sessions.js";

function loadConfig(file: string | undefined) {
  const raw = file ? readFileSync(file, "utf8") : process.env[GATEWAY_CONFIG_ENV];
  if (!raw) throw new Error(`no configuration: set ${GATEWAY_CONFIG_ENV} to the JSON config or pass --config <file>`);
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (err) {
    throw new Error(`${file ?? GATEWAY_CONFIG_ENV} is not valid JSON: ${(err as Error).message}`);
  }
  return parseGatewayConfig(json);
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { config: { type: "string" } } });
  const command = positionals[0] ?? "serve";
  const cfg = loadConfig(values.config);

  if (command === "cleanup") {
    const log = gatewayLogger(cfg);
    const store = await createStore(cfg, process.env);
    const pool = createPool(cfg, process.env, () => 0);
    // Nothing is attached in this process: the manager only deletes (the one destroy() of every path).
    const sessions = new SessionManager(cfg, createMetrics(), log, store);
    const r = await runCleanup({ store, pool, ttlSeconds: cfg.lifecycle.sessionTtlSeconds, log, destroy: (id, backend) => sessions.destroy(id, backend, "ttl") });
    await pool.close();
    await store.close();
    console.log(JSON.stringify({ scanned: r.scanned, deleted: r.deleted.length, failed: r.failed }));
    process.exit(r.failed.length ? 1 : 0);
  }
  if (command !== "serve") throw new Error(`unknown command ${command}: use serve or cleanup`);

  // Test-only switches that disable a protection, so conformance can prove it catches the gap.
  const unsafe = new Set((process.env.GATEWAY_UNSAFE_TEST_SWITCHES ?? "").split(",").filter(Boolean));
  for (const s of unsafe) {
    if (!(UNSAFE_SWITCHES as readonly string[]).includes(s)) throw new Error(`unknown GATEWAY_UNSAFE_TEST_SWITCHES entry ${s}: use ${UNSAFE_SWITCHES.join(", ")}`);
  }
  const gw = await createGateway(cfg, { unsafe: Object.fromEntries([...unsafe].map((s) => [s, true])) });
  if (unsafe.size) gw.log.warn({ switches: [...unsafe] }, "UNSAFE test switches are on: never use this in production");
  const { url, adminUrl } = await gw.listen();
  // Parsed by the local platform to learn the ports when it asked for port 0.
  console.log(`gateway listening on ${url} and admin on ${adminUrl}`);
  const onSignal = (signal: string) => {
    gw.log.info({ signal }, "signal received");
    // Exit stays bounded by the grace period even if closing the store or a client hangs.
    setTimeout(() => process.exit(1), (cfg.lifecycle.drainGraceSeconds + 10) * 1000).unref();
    void gw.drainAndStop().then(
      () => process.exit(0),
      (err: unknown) => {
        gw.log.error({ err: (err as Error).message }, "drain failed");
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", () => onSignal("SIGTERM"));
  process.once("SIGINT", () => onSignal("SIGINT"));
}

main().catch((err) => {
  console.error(`gateway: ${(err as Error).message}`);
  process.exit(1);
});
