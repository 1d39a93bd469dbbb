/** Direct access to a target's CLI servers (local platform): list sessions, look at state on disk, signal pids. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CopilotClient, RuntimeConnection } from "@github/copilot-sdk";
import type { TargetServer } from "../topology/index.js";
import { target, waitFor } from "./harness.js";

export async function withCli<T>(server: TargetServer, fn: (c: CopilotClient) => Promise<T>, connectionToken = server.connectionToken): Promise<T> {
  const client = new CopilotClient({ connection: RuntimeConnection.forUri(server.address, { connectionToken }) });
  try {
    await client.start();
    return await fn(client);
  } finally {
    await client.forceStop().catch(() => undefined);
  }
}

export async function cliSessionIds(server: TargetServer): Promise<Set<string>> {
  return withCli(server, async (c) => new Set((await c.listSessions()).map((s) => s.sessionId)));
}

/** True when the session's state folder exists under the server's COPILOT_HOME. */
export function stateOnDisk(server: TargetServer, sessionId: string): boolean {
  if (!server.home) throw new Error(`server ${server.id} has no home in the target descriptor`);
  return existsSync(join(server.home, "session-state", sessionId));
}

/** Everything the server's CLI processes logged under its COPILOT_HOME (logs/*.log), oldest file first. */
export function cliLog(server: TargetServer): string {
  if (!server.home) throw new Error(`server ${server.id} has no home in the target descriptor`);
  const dir = join(server.home, "logs");
  if (!existsSync(dir)) return "";
  return readdirSync(dir)
    .filter((f) => f.endsWith(".log"))
    .sort()
    .map((f) => readFileSync(join(dir, f), "utf8"))
    .join("\n");
}

export function serverById(id: string): TargetServer {
  const s = target(true).servers.find((x) => x.id === id);
  if (!s) throw new Error(`no server ${id} in the target`);
  return s;
}

/** Kills a local process and waits until the supervisor has replaced it (new pid in the target file). */
export async function killAndAwaitRestart(kind: "server" | "gateway", id: string, signal: NodeJS.Signals, timeoutMs = 60_000): Promise<void> {
  const pidOf = () => {
    const t = target(true);
    return kind === "server" ? t.servers.find((s) => s.id === id)?.pid : t.gateways?.find((g) => g.url === id)?.pid;
  };
  const before = pidOf();
  if (!before) throw new Error(`no pid for ${kind} ${id} in the target`);
  process.kill(before, signal);
  await waitFor(`${kind} ${id} to be restarted`, async () => {
    const now = pidOf();
    return now !== undefined && now !== before;
  }, timeoutMs, 200);
}
