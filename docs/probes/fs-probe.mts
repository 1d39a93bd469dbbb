/* eslint-disable */
// Throwaway probe of issue 13 (docs/shared-storage.md). Run from the repository root: npx tsx docs/probes/<file>
// Probe: does a headless CLI over TCP honour a client-provided sessionFs? What stays in its home?
import { CopilotClient, RuntimeConnection } from "@github/copilot-sdk";
import { calls, files, provider } from "./memory-fs.mts";
import { startCliServer } from "../../gateway/cli-process.ts";
import { startMockModel } from "../../local/mock-model.ts";
import { execSync } from "node:child_process";
import { rmSync } from "node:fs";

const model = await startMockModel({ modelName: "mock-model" });
const env = { COPILOT_OFFLINE: "true", COPILOT_PROVIDER_BASE_URL: model.url, COPILOT_MODEL: "mock-model" };
const root = "/tmp/csk-probe13/run-fs"; rmSync(root, { recursive: true, force: true });
const a = await startCliServer({ home: root + "/homeA", connectionToken: "tA", env });
const b = await startCliServer({ home: root + "/homeB", connectionToken: "tB", env });
const sessionFs = { initialCwd: "/work", sessionStatePath: "/session-state", conventions: "posix" as const };
const cfg = (sid: string) => ({ sessionId: sid, model: "mock-model", provider: { type: "openai" as const, baseUrl: model.url }, onPermissionRequest: () => ({ kind: "denied-no-approval-rule-and-could-not-request-from-user" as const }), createSessionFsProvider: () => provider(sid) });
try {
  const ca = new CopilotClient({ connection: RuntimeConnection.forUri(a.address, { connectionToken: "tA" }), sessionFs });
  await ca.start();
  const s = await ca.createSession(cfg("probe-1"));
  for (let i = 1; i <= 2; i++) { const r = await s.sendAndWait({ prompt: `hello ${i}` }); console.log("A reply:", r?.data.content); }
  await s.disconnect();
  console.log("calls after A:", calls);
  console.log("store keys:", [...files.keys()].map((k) => `${k} ${Buffer.byteLength(files.get(k)!)}`));
  console.log("homeA files:\n" + execSync(`cd ${root}/homeA && find . -path ./.cache -prune -o -type f -print | sort`).toString());
  const cb = new CopilotClient({ connection: RuntimeConnection.forUri(b.address, { connectionToken: "tB" }), sessionFs });
  await cb.start();
  const s2 = await cb.resumeSession("probe-1", cfg("probe-1"));
  const r = await s2.sendAndWait({ prompt: "third" }); console.log("B reply:", r?.data.content);
  await s2.disconnect();
  console.log("homeB files:\n" + execSync(`cd ${root}/homeB && find . -path ./.cache -prune -o -type f -print | sort`).toString());
  console.log("listSessions B:", (await cb.listSessions()).map((x: any) => x.sessionId));
  console.log("calls total:", calls);
  await cb.deleteSession("probe-1").then(() => console.log("deleted; keys left:", [...files.keys()])).catch((e) => console.log("delete err", e.message));
  await ca.stop(); await cb.stop();
} catch (e) { console.log("ERROR", e); }
await a.stop(); await b.stop(); await model.app.close();
