/**
 * Reads session histories from the CLI servers through the SDK (resume, getEvents, disconnect), as
 * the invariant checker wants them: persisted events with their parent links, and the text of
 * each user message. A session the CLI does not know is "missing"; any other failure is kept as
 * the reason (a forked history fails to load: "Failed to load session events").
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CopilotClient, RuntimeConnection, type SessionConfig } from "@github/copilot-sdk";
import type { TargetDescriptor } from "../../topology/index.js";
import type { History } from "./invariants.js";

/** Reading sends no turn, so the provider is never called; resume still wants one. */
const NO_PROVIDER = { type: "openai", baseUrl: "http://127.0.0.1:9/v1" } as const;

export async function readHistories(t: TargetDescriptor, ids: string[], model = "mock-model"): Promise<Map<string, History>> {
  const out = new Map<string, History>();
  const clients = new Map<string, CopilotClient>();
  const clientFor = async (server: TargetDescriptor["servers"][number]) => {
    if (!clients.has(server.id)) {
      const c = new CopilotClient({ connection: RuntimeConnection.forUri(server.address, { connectionToken: server.connectionToken }) });
      await c.start();
      clients.set(server.id, c);
    }
    return clients.get(server.id)!;
  };
  try {
    for (const id of ids) {
      // The server whose home holds the session; on shared storage any of them.
      const server = t.servers.find((s) => s.home && existsSync(join(s.home, "session-state", id))) ?? t.servers[0]!;
      try {
        const session = await (await clientFor(server)).resumeSession(id, { sessionId: id, model, provider: NO_PROVIDER, onPermissionRequest: () => ({ kind: "approve-once" }) } as SessionConfig);
        try {
          const events = await session.getEvents();
          out.set(id, {
            // Streaming deltas and the like are ephemeral: not part of the persisted chain.
            events: events.filter((e) => !(e as { ephemeral?: boolean }).ephemeral).map((e) => ({ id: e.id, parentId: e.parentId ?? null, type: e.type, content: typeof (e.data as { content?: unknown }).content === "string" ? (e.data as { content: string }).content : undefined })),
          });
        } finally {
          await session.disconnect().catch(() => undefined);
        }
      } catch (err) {
        const message = (err as Error).message;
        out.set(id, /Session not found/.test(message) ? { missing: true } : { error: message });
      }
    }
  } finally {
    for (const c of clients.values()) await c.forceStop().catch(() => undefined);
  }
  return out;
}
