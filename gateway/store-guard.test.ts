import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { describe, expect, it } from "vitest";
import { ApiError } from "./errors.js";
import { MemoryStore } from "./memory-store.js";
import { loadRegistry } from "./registry-journal.js";
import type { Store } from "./store.js";
import { guardStore } from "./store-guard.js";

/** A store whose every call hangs, as a paused Redis does. */
function stalled(): Store {
  const base = new MemoryStore();
  return new Proxy(base, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" && prop !== "close" ? () => new Promise(() => undefined) : v;
    },
  });
}

const settle = <T>(p: Promise<T>, ms: number) =>
  Promise.race([p.then(() => "resolved", (e: unknown) => e), new Promise((r) => setTimeout(() => r("pending"), ms))]);

describe("guardStore deadline", () => {
  it("answers 503 store_unavailable when the store does not answer within the timeout", async () => {
    const errors: Error[] = [];
    const store = guardStore(stalled(), (e) => errors.push(e), 50);
    const got = await settle(store.getSession("s-1"), 2_000);
    expect(got).toBeInstanceOf(ApiError);
    expect((got as ApiError).status).toBe(503);
    expect((got as ApiError).code).toBe("store_unavailable");
    expect(errors).toHaveLength(1);
  });

  it("gives a lock wait its wait time on top", async () => {
    const store = guardStore(stalled(), () => undefined, 50);
    const lock = store.acquireLock("k", "h", 1_000, 400);
    expect(await settle(lock, 200)).toBe("pending");
    expect(await settle(lock, 2_000)).toBeInstanceOf(ApiError);
  });

  it("negative control: without a timeout the call is still waiting", async () => {
    expect(await settle(guardStore(stalled()).getSession("s-1"), 300)).toBe("pending");
  });
});

describe("guardStore close", () => {
  it("closes a file-backed memory store: its last writes reach the file and close resolves", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "csk-guard-")), "registry.json");
    const store = guardStore(new MemoryStore(file), undefined, 50);
    await store.createSession({ sessionId: "s-1", owner: "u", kind: "session", persistent: true, createdAt: 1, lastActiveAt: 1 });
    await expect(store.close()).resolves.toBeUndefined();
    expect([...loadRegistry(file).keys()]).toEqual(["s-1"]);
    rmSync(dirname(file), { recursive: true, force: true });
  });
});
