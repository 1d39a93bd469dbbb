/** sticky: N CLI servers with their own state; users pinned by rendezvous hashing. */
import { describe, expect } from "vitest";
import { api, conformance, createSession, recordFigure, send, sleep, target, turnOf, user, waitFor } from "../harness.js";
import { expectNothingLeft } from "../leftovers.js";

/** The server a user's new session lands on. */
async function serverOf(u: string): Promise<string> {
  const r = await api<{ sessionId: string }>("POST", "/v1/sessions", { user: u, json: {} });
  expect(r.status, r.text).toBe(201);
  return r.headers.get("x-copilot-server")!;
}

async function mapUsers(users: string[], batch = 12): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (let i = 0; i < users.length; i += batch) {
    const slice = users.slice(i, i + batch);
    const servers = await Promise.all(slice.map(serverOf));
    slice.forEach((u, j) => out.set(u, servers[j]!));
  }
  return out;
}

describe("sticky routing", () => {
  conformance(["sticky-routing"], "routing is stable: a user's sessions and turns all land on one server", async () => {
    const u = user("stable");
    const servers = new Set<string>();
    for (let i = 0; i < 3; i++) {
      const id = await createSession(u);
      const r = await send(u, id, `turn on session ${i}`);
      expect(r.status).toBe(200);
      servers.add(r.headers.get("x-copilot-server")!);
      servers.add((await send(u, id, "again")).headers.get("x-copilot-server")!);
    }
    expect(servers.size).toBe(1);
  });

  conformance(["sticky-routing"], "users spread evenly: every server gets within ±50% of the mean of 90 users", async () => {
    const n = target().servers.length;
    const users = Array.from({ length: 90 }, (_, i) => user(`spread${i}`));
    const counts = new Map<string, number>();
    for (const s of (await mapUsers(users)).values()) counts.set(s, (counts.get(s) ?? 0) + 1);
    const mean = users.length / n;
    const worst = Math.max(...[...counts.values()].map((c) => Math.abs(c - mean) / mean));
    recordFigure("sticky imbalance (max deviation from mean, 90 users)", worst * 100, "%", `${n} servers`);
    expect(counts.size).toBe(n);
    expect(worst).toBeLessThanOrEqual(0.5);
  });

  conformance(["sticky-routing", "process-control"], "an unavailable server fails its users with 503 naming it; other users keep working", async () => {
    const t = target(true);
    const users = Array.from({ length: 12 }, (_, i) => user(`outage${i}`));
    const placed = await mapUsers(users);
    const victimId = placed.get(users[0]!)!;
    const victim = t.servers.find((s) => s.id === victimId)!;
    const affected = users.find((u) => placed.get(u) === victimId)!;
    const other = users.find((u) => placed.get(u) !== victimId)!;
    const affectedSession = await createSession(affected);
    const otherSession = await createSession(other);
    expect((await send(affected, affectedSession, "before")).status).toBe(200);
    process.kill(victim.pid!, "SIGSTOP");
    try {
      const r = await api<{ error: { code: string; message: string } }>("POST", `/v1/sessions/${affectedSession}/messages`, {
        user: affected,
        json: { prompt: "during the outage" },
      });
      expect(r.status).toBe(503);
      // server_unavailable when the gateway saw it down before sending; turn_interrupted when the
      // turn was already on its way (the connection is dropped under it): both name the server.
      expect(["server_unavailable", "turn_interrupted"]).toContain(r.body.error.code);
      expect(r.body.error.message).toContain(victimId);
      expect(r.headers.get("retry-after")).toBeTruthy();
      const ok = await send(other, otherSession, "unaffected");
      expect(ok.status).toBe(200);
      expect(ok.headers.get("x-copilot-server")).not.toBe(victimId);
    } finally {
      process.kill(victim.pid!, "SIGCONT");
    }
    await waitFor("the paused server answers again", async () => (await api("GET", "/readyz", { admin: true })).status === 200, 30_000, 200);
    // Not moved elsewhere: the user is back on its server with its history.
    const back = await send(affected, affectedSession, "after");
    expect(back.headers.get("x-copilot-server")).toBe(victimId);
    expect(turnOf(back.body.content).turn).toBe(2);
    await expectNothingLeft(() => target(true));
  });

  // Runs last: it adds a server to the target.
  conformance(["sticky-routing", "process-control"], "adding a server remaps at most about 1/(N+1) of users, all of them onto the new server", async () => {
    const t = target(true);
    const n = t.servers.length;
    const users = Array.from({ length: 120 }, (_, i) => `remap-user-${i}`);
    const before = await mapUsers(users);
    const gatewayPid = t.gateways![0]!.pid;
    process.kill(t.local!.supervisorPid, "SIGUSR2");
    await waitFor("the new server and restarted gateways", async () => {
      const now = target(true);
      return now.servers.length === n + 1 && now.gateways![0]!.pid !== gatewayPid && (await api("GET", "/readyz", { admin: true })).status === 200;
    }, 90_000, 250);
    await sleep(200);
    const added = target(true).servers.at(-1)!.id;
    const after = await mapUsers(users);
    const moved = users.filter((u) => before.get(u) !== after.get(u));
    const fraction = moved.length / users.length;
    recordFigure(`sticky remap fraction ${n}→${n + 1} servers`, fraction, "", `ideal ${(1 / (n + 1)).toFixed(3)}`);
    expect(fraction).toBeLessThanOrEqual(1 / (n + 1) + 0.1);
    for (const u of moved) expect(after.get(u)).toBe(added);
  }, 180_000);
});
