/**
 * The store guard: every call of any store gets a deadline, and a failure (Redis down, restarting,
 * stalled) becomes a clear 503 store_unavailable with Retry-After instead of a 500 or a hang.
 */
import { ApiError, unavailable } from "./errors.js";
import type { Store } from "./store.js";

/**
 * Maps a store failure (Redis down or restarting) to a clear 503 with Retry-After instead of a 500,
 * for every method of any store.
 */
export function guardStore(store: Store, onError: (err: Error) => void = () => undefined, timeoutMs?: number): Store {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver) as unknown;
      if (typeof value !== "function") return value;
      // close is not guarded, and runs on the store itself: its own helper calls must not pass the guard.
      if (prop === "close") return (value as () => Promise<void>).bind(target);
      return async (...args: unknown[]) => {
        let timer: NodeJS.Timeout | undefined;
        try {
          const call = (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          if (timeoutMs === undefined) return await call;
          // A stalled store (paused, partitioned) answers nothing: bound every call. A lock wait may
          // legitimately last its wait time (args[3]) on top.
          const budget = timeoutMs + (prop === "acquireLock" ? Number(args[3] ?? 0) : 0);
          const deadline = new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`no answer within ${budget} ms`)), budget);
          });
          call.catch(() => undefined); // its late failure is already reported as this timeout
          return await Promise.race([call, deadline]);
        } catch (err) {
          if (err instanceof ApiError) throw err;
          onError(err as Error);
          throw unavailable("store_unavailable", `the session store is unavailable: ${(err as Error).message}`, 2);
        } finally {
          clearTimeout(timer);
        }
      };
    },
  });
}
