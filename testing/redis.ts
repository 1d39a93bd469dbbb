/** Test fixture: a real redis-server on a free loopback port, in a temporary folder that stop() removes. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "../local/ports.js";
import { startRedis, type RedisProcess } from "../local/redis-process.js";

export type TestRedis = RedisProcess;

export async function startTestRedis(password = "test-password"): Promise<TestRedis> {
  const dir = mkdtempSync(join(tmpdir(), "csk-redis-"));
  const redis = await startRedis({ port: await freePort(), dir, logFile: join(dir, "redis.log"), password });
  return {
    ...redis,
    stop: async () => {
      await redis.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
