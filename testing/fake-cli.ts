/**
 * Test support: an in-memory stand-in for one CLI server (a Backend with its SDK client and
 * sessions) for unit tests of the session manager; a turn answers "echo: <prompt>" once `release`
 * lets it (held turns show what runs concurrently). Real-CLI behaviour is tested with testing/local.ts.
 */
import type { Backend } from "../gateway/backends.js";

type Handler = (event: { type: string; data: Record<string, unknown>; agentId?: string }) => void;

export interface FakeCli {
  backend: Backend;
  /** Session ids whose state the CLI holds (created, not deleted). */
  onDisk: Set<string>;
  /** Calls in the order they reached the CLI: "create s-1", "resume s-1", "send s-1", "disconnect s-1", "delete s-1". */
  calls: string[];
  /** Turns running now, and the most that ever ran at once on one session. */
  running: Map<string, number>;
  maxConcurrentOnOne: number;
  /** While true, turns wait for `release()`. */
  hold: boolean;
  release(): void;
  /** deleteSession throws this message for the id. */
  failDelete: Map<string, string>;
}

export function fakeCli(id = "cli-0"): FakeCli {
  const waiters: (() => void)[] = [];
  const cli: FakeCli = {
    backend: undefined as unknown as Backend,
    onDisk: new Set(),
    calls: [],
    running: new Map(),
    maxConcurrentOnOne: 0,
    hold: false,
    release: () => {
      cli.hold = false;
      for (const w of waiters.splice(0)) w();
    },
    failDelete: new Map(),
  };
  const session = (sessionId: string) => {
    const handlers = new Set<Handler>();
    const emit: Handler = (e) => handlers.forEach((h) => h(e));
    const history: { type: string; data: Record<string, unknown> }[] = [];
    return {
      sessionId,
      on: (h: Handler) => (handlers.add(h), () => handlers.delete(h)),
      getEvents: async () => history,
      abort: async () => undefined,
      disconnect: async () => void cli.calls.push(`disconnect ${sessionId}`),
      send: async ({ prompt }: { prompt: string }) => {
        cli.calls.push(`send ${sessionId}`);
        const n = (cli.running.get(sessionId) ?? 0) + 1;
        cli.running.set(sessionId, n);
        cli.maxConcurrentOnOne = Math.max(cli.maxConcurrentOnOne, n);
        void (async () => {
          if (cli.hold) await new Promise<void>((r) => waiters.push(r));
          const events = [
            { type: "user.message", data: { content: prompt } },
            { type: "assistant.message", data: { content: `echo: ${prompt}` } },
            { type: "session.idle", data: {} },
          ];
          history.push(events[0]!, events[1]!);
          cli.running.set(sessionId, (cli.running.get(sessionId) ?? 1) - 1);
          for (const e of events) emit(e);
        })();
        return "message-id";
      },
    };
  };
  const client = {
    createSession: async (cfg: { sessionId: string }) => {
      cli.calls.push(`create ${cfg.sessionId}`);
      cli.onDisk.add(cfg.sessionId);
      return session(cfg.sessionId);
    },
    resumeSession: async (sessionId: string) => {
      cli.calls.push(`resume ${sessionId}`);
      if (!cli.onDisk.has(sessionId)) throw new Error(`Session not found: ${sessionId}`);
      return session(sessionId);
    },
    deleteSession: async (sessionId: string) => {
      cli.calls.push(`delete ${sessionId}`);
      const fail = cli.failDelete.get(sessionId);
      if (fail) throw new Error(fail);
      if (!cli.onDisk.delete(sessionId)) throw new Error(`Session not found: ${sessionId}`);
    },
    ping: async () => ({ message: "pong" }),
  };
  cli.backend = {
    id,
    generation: 0,
    call: async <T>(fn: (c: typeof client) => Promise<T>) => fn(client),
    getClient: async () => client,
    ping: async () => undefined,
    drop: () => undefined,
  } as unknown as Backend;
  return cli;
}
