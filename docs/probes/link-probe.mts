/* eslint-disable */
// Throwaway probe of issue 13 (docs/shared-storage.md). Run from the repository root: npx tsx docs/probes/<file>
// Probe: can CLI B resume a session whose session-state/<id>/ was created by CLI A under another home (symlinked / copied)?
import { CopilotClient, RuntimeConnection } from "@github/copilot-sdk";
import { startCliServer } from "../../gateway/cli-process.ts";
import { startMockModel } from "../../local/mock-model.ts";
import { execSync } from "node:child_process";
import { rmSync, mkdirSync, symlinkSync, cpSync, readdirSync, readlinkSync } from "node:fs";

const model = await startMockModel({ modelName: "mock-model" });
const env = { COPILOT_OFFLINE: "true", COPILOT_PROVIDER_BASE_URL: model.url, COPILOT_MODEL: "mock-model" };
const root = "/tmp/csk-probe13/run-link"; rmSync(root, { recursive: true, force: true });
const a = await startCliServer({ home: root + "/homeA", connectionToken: "tA", env });
const b = await startCliServer({ home: root + "/homeB", connectionToken: "tB", env });
const c = await startCliServer({ home: root + "/homeC", connectionToken: "tC", env });
const cfg = (sid: string) => ({ sessionId: sid, model: "mock-model", provider: { type: "openai" as const, baseUrl: model.url }, onPermissionRequest: () => ({ kind: "denied-no-approval-rule-and-could-not-request-from-user" as const }) });
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).map((f) => { try { return readlinkSync(`/proc/${pid}/fd/${f}`); } catch { return ""; } }).filter((p) => p.startsWith(root));
try {
  const ca = new CopilotClient({ connection: RuntimeConnection.forUri(a.address, { connectionToken: "tA" }) }); await ca.start();
  const s = await ca.createSession(cfg("link-1"));
  for (let i = 1; i <= 2; i++) console.log("A:", (await s.sendAndWait({ prompt: `hello ${i}` }))?.data.content.split("\n")[1]);
  console.log("A open files during session:", fds(a.pid));
  console.log("A session dir:", execSync(`cd ${root}/homeA/session-state && find . | sort`).toString());
  await s.disconnect();
  // B: symlink in
  mkdirSync(root + "/homeB/session-state", { recursive: true });
  symlinkSync(root + "/homeA/session-state/link-1", root + "/homeB/session-state/link-1");
  const cb = new CopilotClient({ connection: RuntimeConnection.forUri(b.address, { connectionToken: "tB" }) }); await cb.start();
  console.log("B listSessions before resume:", (await cb.listSessions()).map((x: any) => x.sessionId));
  const s2 = await cb.resumeSession("link-1", cfg("link-1"));
  console.log("B (symlink):", (await s2.sendAndWait({ prompt: "third" }))?.data.content.split("\n")[1]);
  console.log("B open files:", fds(b.pid));
  await s2.disconnect();
  console.log("B sqlite rows:", execSync(`sqlite3 ${root}/homeB/session-store.db "select name from sqlite_master where type='table'" 2>&1 || true`).toString());
  // C: copy in
  cpSync(root + "/homeA/session-state/link-1", root + "/homeC/session-state/link-1", { recursive: true, dereference: true });
  const cc = new CopilotClient({ connection: RuntimeConnection.forUri(c.address, { connectionToken: "tC" }) }); await cc.start();
  const s3 = await cc.resumeSession("link-1", cfg("link-1"));
  console.log("C (copy):", (await s3.sendAndWait({ prompt: "fourth" }))?.data.content.split("\n")[1]);
  await s3.disconnect();
  console.log("homes:", execSync(`cd ${root} && find . -path '*/.cache' -prune -o -print | grep -v '/logs/process' | sort`).toString());
  await ca.stop(); await cb.stop(); await cc.stop();
} catch (e) { console.log("ERROR", e); }
await a.stop(); await b.stop(); await c.stop(); await model.app.close();
