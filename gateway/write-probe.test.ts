/**
 * Readiness's write probe costs each CLI at most one throwaway session per interval, however many
 * replicas check readiness: three replicas on one Redis in front of one real CLI, readiness checked
 * on all of them again and again within one interval, make one probe between them. The negative
 * control (`unshared-write-probe`, every replica on its own as before) makes one per replica.
 */
import { Redis } from "ioredis";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { gatewayFor } from "../testing/gateway.js";
import { startOfflineCli, type OfflineCli } from "../testing/local.js";
import { startTestRedis, type TestRedis } from "../testing/redis.js";
import type { Gateway, UnsafeSwitches } from "./server.js";

const TOKEN = "w".repeat(32);
let cli: OfflineCli;
let redis: TestRedis;

beforeAll(async () => {
  [cli, redis] = await Promise.all([startOfflineCli(TOKEN), startTestRedis("test-password")]);
}, 120_000);
afterAll(async () => {
  await cli?.stop();
  await redis?.stop();
});

/** Probes run by all replicas after each replica checked readiness `rounds` times (well within one interval). */
async function probesAcross(replicas: number, rounds: number, unsafe: UnsafeSwitches = {}): Promise<number> {
  const gws: Gateway[] = [];
  try {
    for (let i = 0; i < replicas; i++) gws.push(await gatewayFor(cli, { store: "redis", replicaId: `gw-${i}` }, { env: { GATEWAY_REDIS_URL: redis.url }, unsafe }));
    for (let r = 0; r < rounds; r++) {
      for (const gw of gws) {
        const res = await gw.admin.inject({ method: "GET", url: "/readyz" });
        expect(res.statusCode, res.body).toBe(200);
      }
    }
    let probes = 0;
    for (const gw of gws) probes += (await gw.metrics.writeProbes.get()).values.reduce((n, v) => n + v.value, 0);
    return probes;
  } finally {
    await Promise.all(gws.map((g) => g.drainAndStop()));
    const raw = new Redis(redis.url);
    await raw.del("csk:kv:write-probe:cli-0");
    raw.disconnect();
  }
}

describe("the readiness write probe", () => {
  it("runs once per CLI per interval across three replicas", async () => {
    expect(await probesAcross(3, 3)).toBe(1);
  }, 60_000);

  it("negative control: unshared, every replica probes the CLI itself", async () => {
    expect(await probesAcross(3, 3, { "unshared-write-probe": true })).toBe(3);
  }, 60_000);
});
