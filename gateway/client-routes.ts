/**
 * Routes a chat client needs besides turns: a session's or room's history, aborting a session's or
 * room's turn in flight (on any replica), the models the CLI offers, and the OpenAPI document of the whole API.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { GatewayConfig } from "../topology/gateway-config.js";
import { historyQuery, parse } from "./api-schemas.js";
import type { Principal } from "./auth.js";
import { ApiError, notFound } from "./errors.js";
import { messagesOf, pageOf } from "./history.js";
import { openApiDocument } from "./openapi.js";
import type { BackendPool } from "./pool.js";
import { openOptionsOf, type SessionManager } from "./sessions.js";
import type { SessionRecord, Store } from "./store.js";
import { roomLockKey, sessionLockKey } from "./turn-lock.js";
import { roomOf } from "./turn-routes.js";

export interface ClientRouteDeps {
  cfg: GatewayConfig;
  store: Store;
  pool: BackendPool;
  sessions: SessionManager;
  principal: (req: FastifyRequest) => Principal;
  ownSession: (req: FastifyRequest, id: string) => Promise<SessionRecord>;
}

export const noTurnInFlight = () => new ApiError(409, "no_turn_in_flight", "no turn of this session is running; nothing to abort");

export function installClientRoutes(app: FastifyInstance, deps: ClientRouteDeps): void {
  const { cfg, store, pool, sessions, principal, ownSession } = deps;

  /** Reads the history from the CLI that holds the session: the CLI's record is the truth. */
  async function history(req: FastifyRequest, rec: SessionRecord) {
    const q = parse(historyQuery, req.query, "invalid_query");
    const backend = await pool.forSession(rec, principal(req).user);
    const events = await sessions.withSession(rec.sessionId, backend, openOptionsOf(rec), (s) => s.getEvents());
    return pageOf(messagesOf(events), q.limit, q.after);
  }

  app.get<{ Params: { id: string } }>("/v1/sessions/:id/messages", async (req) => history(req, await ownSession(req, req.params.id)));

  /** A room's record, for a member (roomOf checks topology and membership); 404 before its first turn. */
  async function roomRecord(req: FastifyRequest): Promise<{ room: string; rec: SessionRecord }> {
    const room = roomOf(req, cfg, principal);
    const rec = await store.getSession(`r-${room}`);
    if (!rec || rec.kind !== "room" || rec.state) throw notFound("room");
    return { room, rec };
  }

  app.get<{ Params: { room: string } }>("/v1/rooms/:room/messages", async (req) => history(req, (await roomRecord(req)).rec));

  /**
   * Stops the turn running on a session or room: here, or on another replica (which holds its turn
   * lock in the store; the CLI aborts the session's running turn whichever connection asks). The
   * turn's own request answers 409 turn_aborted; this one says the abort reached the CLI.
   */
  async function abort(req: FastifyRequest, rec: SessionRecord, lockKey: string): Promise<void> {
    if (await sessions.abortLocal(rec.sessionId)) return;
    if (!(await store.lockHolder(lockKey))) throw noTurnInFlight();
    const backend = await pool.forSession(rec, principal(req).user);
    await sessions.withSession(rec.sessionId, backend, openOptionsOf(rec), (s) => s.abort());
  }

  app.post<{ Params: { id: string } }>("/v1/sessions/:id/abort", async (req) => {
    const rec = await ownSession(req, req.params.id);
    await abort(req, rec, sessionLockKey(rec.sessionId));
    return { sessionId: rec.sessionId, aborted: true as const };
  });

  // Any member may stop the room's turn in flight, whoever posted it: the room is shared like its history.
  app.post<{ Params: { room: string } }>("/v1/rooms/:room/abort", async (req) => {
    const { room, rec } = await roomRecord(req);
    await abort(req, rec, roomLockKey(room));
    return { room, aborted: true as const };
  });

  app.get("/v1/models", async (req) => {
    const backend = await pool.forNewSession(principal(req).user);
    try {
      return { models: await backend.call((c) => c.listModels()), source: "cli" as const };
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      // An offline CLI (BYOK) lists no models without GitHub sign-in: the configured model is the offer.
      if (/not authenticated/i.test(message) && cfg.model.name && cfg.model.providerBaseUrl) {
        return { models: [{ id: cfg.model.name, name: cfg.model.name }], source: "provider-config" as const };
      }
      throw await sessions.backendFailure(backend, message);
    }
  });

  let doc: unknown;
  app.get("/openapi.json", async () => (doc ??= openApiDocument()));
}
