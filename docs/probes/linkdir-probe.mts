// Throwaway probe of issue 13 (docs/shared-storage.md). Run from the repository root: npx tsx docs/probes/<file>
// Probe: every CLI its own home; home/session-state is a symlink to one shared directory.
import { CopilotClient, RuntimeConnection } from "@github/copilot-sdk";
import { startCliServer } from "../../gateway/cli-process.ts";
import { startMockModel } from "../../local/mock-model.ts";
import { execSync } from "node:child_process";
import { rmSync, mkdirSync, symlinkSync, readdirSync, readlinkSync, existsSync } from "node:fs";
const model = await startMockModel({ modelName: "mock-model" });
const env = { COPILOT_OFFLINE: "true", COPILOT_PROVIDER_BASE_URL: model.url, COPILOT_MODEL: "mock-model" };
const root = "/tmp/csk-probe13/run-linkdir"; rmSync(root, { recursive: true, force: true });
mkdirSync(root + "/shared/session-state", { recursive: true });
for (const h of ["homeA", "homeB"]) { mkdirSync(`${root}/${h}`, { recursive: true }); symlinkSync(root + "/shared/session-state", `${root}/${h}/session-state`); }
const a = await startCliServer({ home: root + "/homeA", connectionToken: "tA", env });
const b = await startCliServer({ home: root + "/homeB", connectionToken: "tB", env });
const cfg = (sid: string) => ({ sessionId: sid, model: "mock-model", provider: { type: "openai" as const, baseUrl: model.url }, onPermissionRequest: () => ({ kind: "denied-no-approval-rule-and-could-not-request-from-user" as const }) });
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).map((f) => { try { return readlinkSync(`/proc/${pid}/fd/${f}`); } catch { return ""; } }).filter((p) => p.startsWith(root) && !p.includes(".cache"));
try {
  const ca = new CopilotClient({ connection: RuntimeConnection.forUri(a.address, { connectionToken: "tA" }) }); await ca.start();
  const cb = new CopilotClient({ connection: RuntimeConnection.forUri(b.address, { connectionToken: "tB" }) }); await cb.start();
  const s = await ca.createSession(cfg("ld-1"));
  for (let i = 1; i <= 2; i++) console.log("A:", (await s.sendAndWait({ prompt: `hello ${i}` }))?.data.content.split("\n")[1]);
  console.log("A fds:", fds(a.pid)); console.log("B fds:", fds(b.pid));
  await s.disconnect();
  const s2 = await cb.resumeSession("ld-1", cfg("ld-1"));
  console.log("B:", (await s2.sendAndWait({ prompt: "third" }))?.data.content.split("\n")[1]);
  await s2.disconnect();
  const s3 = await ca.resumeSession("ld-1", cfg("ld-1"));
  console.log("A again:", (await s3.sendAndWait({ prompt: "fourth" }))?.data.content.split("\n")[1]);
  await s3.disconnect();
  await cb.deleteSession("ld-1").then(() => console.log("B deleted A's session; dir left:", existsSync(root + "/shared/session-state/ld-1"))).catch((e) => console.log("B delete err:", e.message));
  console.log("tree:", execSync(`cd ${root} && find . -path '*/.cache' -prune -o -print | grep -v '/logs/process' | sort`).toString());
  await ca.stop(); await cb.stop();
} catch (e) { console.log("ERROR", e); }
await a.stop(); await b.stop(); await model.app.close();
