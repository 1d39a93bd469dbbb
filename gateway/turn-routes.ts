/**
 * The turn routes: a prompt to a session, to a room, or to an ephemeral chat, answered as JSON or
 * as SSE, each under the user's turn slot and (sessions, rooms) the cross-replica turn lock, with
 * an optional Idempotency-Key.
 */
import { randomUUID } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import type { Logger } from "pino";
import type { GatewayConfig } from "../topology/gateway-config.js";
import { TOPOLOGIES } from "../topology/topologies.js";
import { idempotencyKeyHeader, parse, promptBody } from "./api-schemas.js";
import type { Principal } from "./auth.js";
import type { Backend } from "./backends.js";
import { ApiError, forbidden, notFound, validateId } from "./errors.js";
import { answerOf, errorOf, type Answer, type Idempotency } from "./idempotency.js";
import type { Metrics } from "./metrics.js";
import type { BackendPool } from "./pool.js";
import { createRecorded } from "./recorded-create.js";
import { CliDeleteFailed, openOptionsOf, type SessionManager } from "./sessions.js";
import type { SessionRecord, Store } from "./store.js";
import { roomLockKey, sessionLockKey, withTurnLock, type TurnLockOptions } from "./turn-lock.js";
import type { UserQuotas } from "./user-quotas.js";

export interface TurnRouteDeps {
  cfg: GatewayConfig;
  store: Store;
  pool: BackendPool;
  sessions: SessionManager;
  metrics: Metrics;
  log: Logger;
  turnLock: TurnLockOptions;
  quotas: UserQuotas;
  idempotency: Idempotency;
  principal: (req: FastifyRequest) => Principal;
  ownSession: (req: FastifyRequest, id: string) => Promise<SessionRecord>;
  served: (reply: FastifyReply, backend: Pick<Backend, "id">) => FastifyReply;
  replica: string;
  /** Test-only: a stream whose client left is not counted (the old behaviour), for its negative control. */
  unsafeUncountedStreams?: boolean;
}

/** The room of a room route, after the topology and membership checks (404 / 400 / 403). */
export function roomOf(req: FastifyRequest & { params: unknown }, cfg: GatewayConfig, principal: (req: FastifyRequest) => Principal): string {
  if (!TOPOLOGIES[cfg.topology].rooms) {
    throw new ApiError(404, "route_not_found", `rooms are served by the collaborative topology; this gateway runs ${cfg.topology}`);
  }
  const room = validateId((req.params as { room: string }).room, "room");
  const p = principal(req);
  if (p.rooms !== "*" && !p.rooms.includes(room)) throw forbidden(`you are not a member of room ${room} (token claim "${cfg.auth.roomsClaim}")`);
  return room;
}

function wantsStream(req: FastifyRequest): boolean {
  return (req.headers.accept ?? "").includes("text/event-stream");
}

export function installTurnRoutes(app: FastifyInstance, deps: TurnRouteDeps): void {
  const { cfg, store, pool, sessions, metrics, log, turnLock, quotas, idempotency, principal, ownSession, served, replica } = deps;
  const roomOfReq = (req: FastifyRequest) => roomOf(req, cfg, principal);

  /** Runs one turn and answers as JSON or as SSE (deltas, then a final `done` event); `capture` sees the answer. */
  async function answerTurn(
    req: FastifyRequest,
    reply: FastifyReply,
    backend: Pick<Backend, "id">,
    run: (onDelta?: (t: string) => void) => Promise<{ content: string; extra?: Record<string, unknown>; servedBy?: Backend }>,
    base: Record<string, unknown>,
    capture?: (a: Answer) => void,
  ) {
    if (capture) {
      const inner = run;
      run = async (onDelta) => {
        try {
          const r = await inner(onDelta);
          capture({ ok: true, body: { ...base, content: r.content, ...r.extra }, server: (r.servedBy ?? backend).id });
          return r;
        } catch (err) {
          const a = answerOf(err);
          if (a) capture(a);
          throw err;
        }
      };
    }
    served(reply, backend);
    if (!wantsStream(req)) {
      const r = await run();
      if (r.servedBy) served(reply, r.servedBy);
      return reply.send({ ...base, content: r.content, ...r.extra });
    }
    reply.hijack();
    const res = reply.raw;
    // Headers set before the hijack (Idempotent-Replayed, rate-limit) go out with the stream.
    res.writeHead(200, {
      ...(reply.getHeaders() as Record<string, string>),
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      connection: "keep-alive",
      "x-copilot-server": backend.id,
    });
    // Send the headers now, not with the first event: the client (and any proxy) sees the stream open
    // while the model thinks, and a client that leaves before the first event is a client_gone.
    res.flushHeaders();
    const event = (name: string, data: unknown) => res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    // onResponse never fires for a stream whose client left: count it here, with its own outcome.
    const route = req.routeOptions.url ?? "unmatched";
    let counted = false;
    const count = (outcome: "done" | "error" | "client_gone") => {
      if (counted) return;
      counted = true;
      metrics.streams.inc({ route, outcome });
      if (outcome === "client_gone") metrics.httpRequests.inc({ method: req.method, route, status: "499" });
    };
    res.once("close", () => {
      if (!res.writableFinished && !deps.unsafeUncountedStreams) count("client_gone");
    });
    // A comment line keeps idle-timeout proxies from closing a stream whose model is thinking.
    const heartbeatMs = cfg.http.sseHeartbeatSeconds * 1000;
    const heartbeat = heartbeatMs > 0 ? setInterval(() => res.write(": heartbeat\n\n"), heartbeatMs) : undefined;
    try {
      const r = await run((t) => event("delta", { content: t }));
      event("done", { ...base, content: r.content, ...r.extra, ...(r.servedBy ? { server: r.servedBy.id } : {}) });
      count("done");
    } catch (err) {
      const e = err instanceof ApiError ? err : new ApiError(500, "internal", "internal error");
      event("error", { error: { code: e.code, message: e.message }, status: e.status });
      count("error");
    }
    clearInterval(heartbeat);
    res.end();
    return reply;
  }

  app.post<{ Params: { id: string } }>("/v1/sessions/:id/messages", async (req, reply) => {
    const rec = await ownSession(req, req.params.id);
    const { prompt } = parse(promptBody, req.body);
    const user = principal(req).user;
    return idempotent(req, reply, rec.sessionId, { prompt }, (written, capture) => sessionTurn(req, reply, rec, user, prompt, written, capture));
  });

  async function sessionTurn(req: FastifyRequest, reply: FastifyReply, rec: SessionRecord, user: string, prompt: string, written: () => void, capture?: (a: Answer) => void) {
    // Turns on one session are serialized across replicas; the server is chosen under the lock so a
    // lease (shared-storage) is never moved while another replica's turn runs.
    return quotas.withTurnSlot(user, () => withTurnLock(turnLock, sessionLockKey(rec.sessionId), `${replica}:${req.id}`, "this session", async (fence) => {
      // TTL cleanup and DELETE work under this lock: a session deleted (or being deleted) while we waited is gone.
      const fresh = await store.getSession(rec.sessionId);
      if (!fresh || fresh.state) throw notFound();
      const backend = await pool.forSession(rec, user);
      const turnOn = async (b: Backend, onDelta?: (t: string) => void) => {
        const beforeSend = async () => {
          await fence.beforeWrite();
          written();
        };
        const r = await sessions.turn(rec.sessionId, b, prompt, { ...openOptionsOf(rec), kind: "session", onDelta, beforeSend });
        await fence.afterTurn();
        await store.updateSession(rec.sessionId, { lastActiveAt: Date.now(), serverId: b.id });
        return r;
      };
      return answerTurn(
        req,
        reply,
        backend,
        async (onDelta) => {
          try {
            return { content: (await turnOn(backend, onDelta)).content };
          } catch (err) {
            // shared-storage: the serving CLI died; the lease moves and a survivor resumes from the shared state.
            const failover = err instanceof ApiError && (err.code === "server_unavailable" || err.code === "turn_interrupted");
            if (!failover || pool.mode !== "least-loaded") throw err;
            const survivor = await pool.forSession(rec, user);
            if (survivor === backend) throw err;
            // Resend only if the prompt never reached the history: a turn is never written twice.
            if (err.code === "turn_interrupted" && (await sessions.promptPending(rec.sessionId, survivor, prompt, openOptionsOf(rec)))) throw err;
            const r = await turnOn(survivor, onDelta);
            return { content: r.content, servedBy: survivor };
          }
        },
        { sessionId: rec.sessionId },
        capture,
      );
    }));
  }

  app.post<{ Params: { room: string } }>("/v1/rooms/:room/messages", async (req, reply) => {
    const room = roomOfReq(req);
    const { prompt } = parse(promptBody, req.body);
    const user = principal(req).user;
    return idempotent(req, reply, `room:${room}`, { prompt }, (written, capture) => roomTurn(req, reply, room, user, prompt, written, capture));
  });

  async function roomTurn(req: FastifyRequest, reply: FastifyReply, room: string, user: string, prompt: string, written: () => void, capture?: (a: Answer) => void) {
    const id = `r-${room}`;
    return quotas.withTurnSlot(user, () => withTurnLock(turnLock, roomLockKey(room), `${replica}:${req.id}`, `room ${room}`, async (fence) => {
      let rec = await store.getSession(id);
      if (rec?.state) {
        // A create cut short (no turn ran on it): finished off under the room lock, then made afresh.
        const stale = await pool.forSession(rec, user);
        await sessions.destroy(id, stale, "unfinished").catch(async (err: Error) => {
          throw err instanceof CliDeleteFailed ? await sessions.backendFailure(stale, err.message) : err;
        });
        rec = undefined;
      }
      const backend = rec ? await pool.forSession(rec, user) : await pool.forNewSession(`room:${room}`);
      if (!rec) {
        const now = Date.now();
        rec = { sessionId: id, owner: `room:${room}`, kind: "room", persistent: true, createdAt: now, lastActiveAt: now, serverId: backend.id };
        await createRecorded({ store, pool, sessions, log }, rec, backend);
      }
      const beforeSend = async () => {
        await fence.beforeWrite();
        written();
      };
      return answerTurn(
        req,
        reply,
        backend,
        async (onDelta) => {
          // The turn number is the CLI's own count of user messages: the history is the truth.
          const r = await sessions.turn(id, backend, prompt, { ...openOptionsOf(rec), kind: "room", onDelta, beforeSend, countTurns: true });
          await fence.afterTurn();
          await store.updateSession(id, { lastActiveAt: Date.now(), serverId: backend.id });
          return { content: r.content, extra: { turn: r.turns } };
        },
        { room },
        capture,
      );
    }));
  }

  app.post("/v1/chat", async (req, reply) => {
    const { prompt } = parse(promptBody, req.body);
    const user = principal(req).user;
    return idempotent(req, reply, "chat", { prompt }, (written, capture) => quotas.withTurnSlot(user, () => chat(req, reply, user, prompt, written, capture)));
  });

  async function chat(req: FastifyRequest, reply: FastifyReply, user: string, prompt: string, written: () => void, capture?: (a: Answer) => void) {
    const backend = await pool.forNewSession(user);
    const id = `c-${randomUUID()}`;
    const now = Date.now();
    // Registered so that a crash mid-chat leaves a record for TTL cleanup to find.
    await store.createSession({ sessionId: id, owner: user, kind: "chat", persistent: false, createdAt: now, lastActiveAt: now, serverId: backend.id });
    const cleanup = async () => {
      // A failed CLI delete keeps the record, so TTL cleanup retries it: no CLI session is left without one.
      await sessions.destroy(id, backend, "ephemeral").catch((err: Error) => log.warn({ err: err.message, sessionId: id }, "ephemeral delete failed; TTL cleanup will retry it"));
    };
    return answerTurn(
      req,
      reply,
      backend,
      async (onDelta) => {
        try {
          await sessions.create(backend, id, { persistent: false, owner: user });
          const r = await sessions.turn(id, backend, prompt, { persistent: false, owner: user, kind: "chat", onDelta, beforeSend: async () => written() });
          return { content: r.content };
        } finally {
          await cleanup();
        }
      },
      {},
      capture,
    );
  }

  /**
   * A turn with an optional Idempotency-Key: without one (or with the test switch) it just runs;
   * with one, the first request runs and a retry replays its answer (header idempotent-replayed).
   */
  async function idempotent(
    req: FastifyRequest,
    reply: FastifyReply,
    target: string,
    request: unknown,
    run: (written: () => void, capture?: (a: Answer) => void) => Promise<FastifyReply>,
  ): Promise<FastifyReply> {
    const header = req.headers["idempotency-key"];
    if (header === undefined || !idempotency.enabled) return run(() => undefined);
    const key = parse(idempotencyKeyHeader, header, "invalid_idempotency_key");
    let captured: Answer | undefined;
    const { answer, replayed } = await idempotency.run({ user: principal(req).user, target, key }, request, async (written) => {
      await run(written, (a) => (captured = a));
      // A turn that failed before answerTurn ran threw instead (and its key was freed or kept by run).
      return captured ?? { ok: false, status: 500, code: "internal", message: "internal error", headers: {} };
    });
    if (!replayed) return reply;
    if (!answer.ok) throw errorOf({ ...answer, headers: { ...answer.headers, "idempotent-replayed": "true" } });
    reply.header("idempotent-replayed", "true");
    return answerTurn(req, reply, { id: answer.server ?? "" }, async () => ({ content: String(answer.body.content), extra: answer.body }), {});
  }
}
