/**
 * `down` leaves nothing behind, even while a crashed CLI's restart is under way: a real shared
 * platform, its CLI SIGKILLed, and stop() called as soon as the supervisor saw the exit.
 */
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readTargetFile } from "../topology/index.js";
import { LocalPlatform } from "./platform.js";

const dir = mkdtempSync(join(tmpdir(), "csk-down-"));
afterAll(() => {
  // A failing run must not leave its processes behind either.
  for (const p of leftIn(dir)) process.kill(Number(p.split(" ")[0]), "SIGKILL");
  rmSync(dir, { recursive: true, force: true });
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Processes working in the run folder or naming it on their command line. */
function leftIn(runDir: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const cwd = readlinkSync(`/proc/${pid}/cwd`);
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (cwd.startsWith(runDir) || cmd.includes(runDir)) out.push(`${pid} ${cmd.slice(0, 120)}`);
    } catch {
      // gone, or not ours to read
    }
  }
  return out;
}

describe("local platform down", () => {
  it("stops a CLI whose restart was in flight when down began", async () => {
    const runDir = join(dir, "run");
    const targetFile = join(dir, "target.json");
    const platform = await LocalPlatform.start({ topology: "shared", targetFile, runDir, restartDelayMs: 0, log: () => undefined });
    try {
      const cliPid = readTargetFile(targetFile).servers[0]!.pid!;
      process.kill(cliPid, "SIGKILL");
      // Down begins once the restart has spawned its CLI, before that CLI listens (~0.65 s).
      const restarted = () => leftIn(runDir).some((p) => p.includes("copilot") && !p.startsWith(`${cliPid} `));
      for (let i = 0; i < 1000 && !restarted(); i++) await sleep(5);
      expect(restarted(), "the supervisor did not restart the killed CLI").toBe(true);
    } finally {
      await platform.stop();
    }
    await sleep(500);
    expect(leftIn(runDir), "processes left behind by down").toEqual([]);
  }, 120_000);
});
