/* eslint-disable */
// Throwaway probe of issue 13 (docs/shared-storage.md). Run from the repository root: npx tsx docs/probes/<file>
// Probe: one CLI, client P registered as sessionFs provider, client Q plain. Who serves Q's session files?
import { CopilotClient, RuntimeConnection } from "@github/copilot-sdk";
import { calls, files, provider } from "./memory-fs.mts";
import { startCliServer } from "../../gateway/cli-process.ts";
import { startMockModel } from "../../local/mock-model.ts";
import { execSync } from "node:child_process";
import { rmSync } from "node:fs";
const model = await startMockModel({ modelName: "mock-model" });
const env = { COPILOT_OFFLINE: "true", COPILOT_PROVIDER_BASE_URL: model.url, COPILOT_MODEL: "mock-model" };
const root = "/tmp/csk-probe13/run-two"; rmSync(root, { recursive: true, force: true });
const a = await startCliServer({ home: root + "/homeA", connectionToken: "tA", env });
const sessionFs = { initialCwd: "/workspace", sessionStatePath: "/session-state", conventions: "posix" as const };
const cfg = (sid: string, fs: boolean) => ({ sessionId: sid, model: "mock-model", provider: { type: "openai" as const, baseUrl: model.url }, onPermissionRequest: () => ({ kind: "denied-no-approval-rule-and-could-not-request-from-user" as const }), ...(fs ? { createSessionFsProvider: () => provider(sid) } : {}) });
try {
  const p = new CopilotClient({ connection: RuntimeConnection.forUri(a.address, { connectionToken: "tA" }), sessionFs }); await p.start();
  const q = new CopilotClient({ connection: RuntimeConnection.forUri(a.address, { connectionToken: "tA" }) }); await q.start();
  const s = await p.createSession(cfg("by-p", true));
  console.log("P turn:", (await s.sendAndWait({ prompt: "p1" }))?.data.content.split("\n")[1]);
  try {
    const s2 = await q.resumeSession("by-p", cfg("by-p", false));
    console.log("Q resume of P's session, turn:", (await s2.sendAndWait({ prompt: "q on p" }, 20000))?.data.content.split("\n")[1]);
  } catch (e) { console.log("Q resume err:", (e as Error).message); }
  try {
    const s3 = await q.createSession(cfg("by-q", false));
    console.log("Q create turn:", (await s3.sendAndWait({ prompt: "q1" }, 20000))?.data.content.split("\n")[1]);
  } catch (e) { console.log("Q create err:", (e as Error).message); }
  const r = new CopilotClient({ connection: RuntimeConnection.forUri(a.address, { connectionToken: "tA" }), sessionFs });
  await r.start().then(() => console.log("second provider accepted"), (e) => console.log("second provider refused:", (e as Error).message));
  await r.forceStop().catch(() => undefined);
  console.log("provider holds:", [...files.keys()]);
  await p.stop(); await q.stop();
} catch (e) { console.log("ERROR", e); }
await a.stop(); await model.app.close();
