/**
 * shared-storage state layout: every CLI server has a home of its own, so no SQLite database
 * (`.db`, `-wal`, `-shm`) and no lock file is open in two CLI processes. Across hosts such a file
 * would sit on NFS or Azure Files, where SQLite's WAL mode and flock are not safe.
 */
import { describe, expect } from "vitest";
import { openFiles, processTree, SHARED_FORBIDDEN, sharedOpenFiles } from "../open-files.js";
import { api, conformance, createSession, recordFigure, send, target, turnOf, user } from "../harness.js";

/** Open files of every CLI server of the target (its process and descendants), by server id. */
function openByServer(): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const s of target(true).servers) {
    if (!s.pid) throw new Error(`server ${s.id} has no pid in the target`);
    out.set(s.id, new Set(processTree(s.pid).flatMap(openFiles)));
  }
  return out;
}

describe("state layout", () => {
  conformance(["private-homes", "process-control"], "no database or lock file is open in two CLI servers while turns run on all of them", async () => {
    const servers = target(true).servers.length;
    expect(servers, "the check needs at least two CLI servers").toBeGreaterThanOrEqual(2);
    const gateways = target().gatewayUrls.length;
    const u = user("layout");
    // Sessions until least-loaded routing has put one on every server, one first turn at a time:
    // earlier tests leave the servers unevenly loaded, and first turns sent all at once would all
    // pick the same least-loaded server (each sees the load before the others attach).
    const ids: string[] = [];
    const used = new Set<string>();
    while (used.size < servers && ids.length < servers * 8) {
      const id = await createSession(u, {}, ids.length % gateways);
      const first = await send(u, id, "one", ids.length % gateways);
      expect(first.status, first.text).toBe(200);
      used.add(first.headers.get("x-copilot-server")!);
      ids.push(id);
    }
    expect(used.size, `turns reached every server (${ids.length} sessions)`).toBe(servers);

    // Scan while turns are in flight everywhere (locks are taken per operation), and once at rest.
    const scans: Map<string, Set<string>>[] = [];
    const turns = Promise.all(ids.map((id, i) => send(u, id, "two [sleep:600]", i % gateways)));
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 150));
      scans.push(openByServer());
    }
    for (const r of await turns) {
      expect(r.status, r.text).toBe(200);
      expect(turnOf(r.body.content).turn).toBe(2);
    }
    scans.push(openByServer());

    let checked = 0;
    for (const scan of scans) {
      // Not vacuous: every server holds its own session database open.
      for (const [server, paths] of scan) {
        const dbs = [...paths].filter((p) => SHARED_FORBIDDEN.test(p));
        expect(dbs.some((p) => p.endsWith("session-store.db")), `${server} has its session-store.db open: ${dbs.join(", ")}`).toBe(true);
        checked += dbs.length;
      }
      expect(sharedOpenFiles(scan).map((f) => `${f.path} (open in ${f.servers.join(", ")})`), "database or lock files open in two CLI servers").toEqual([]);
    }
    recordFigure("state layout: database and lock files checked (open, per server and scan)", checked, "files");
    for (const id of ids) expect((await api("DELETE", `/v1/sessions/${id}`, { user: u })).status).toBe(204);
  });
});
