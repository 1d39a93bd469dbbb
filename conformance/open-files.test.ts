import { spawn } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { openFiles, processTree, sharedOpenFiles } from "./open-files.js";

describe("sharedOpenFiles", () => {
  it("reports a database, WAL, shm or lock file open in two servers, and nothing else", () => {
    const open = new Map([
      ["cli-0", new Set(["/h/session-store.db", "/h/session-store.db-wal", "/h/session-store.db-shm", "/h/settings.json.lock", "/s/events.jsonl", "/h0/own.db"])],
      ["cli-1", new Set(["/h/session-store.db", "/h/session-store.db-wal", "/h/session-store.db-shm", "/h/settings.json.lock", "/s/events.jsonl", "/h1/own.db"])],
    ]);
    expect(sharedOpenFiles(open).map((s) => s.path).sort()).toEqual(["/h/session-store.db", "/h/session-store.db-shm", "/h/session-store.db-wal", "/h/settings.json.lock"]);
    expect(sharedOpenFiles(open)[0]!.servers).toEqual(["cli-0", "cli-1"]);
  });

  it("finds nothing when every server has its own files", () => {
    const open = new Map([
      ["cli-0", new Set(["/a/session-store.db", "/a/logs/.copilot-log.lock"])],
      ["cli-1", new Set(["/b/session-store.db", "/b/logs/.copilot-log.lock"])],
    ]);
    expect(sharedOpenFiles(open)).toEqual([]);
  });
});

describe("openFiles", () => {
  it("lists a file this process holds open, and a child in the process tree", async () => {
    const dir = mkdtempSync(join(tmpdir(), "open-files-"));
    const file = join(dir, "probe.lock");
    writeFileSync(file, "");
    const fd = openSync(file, "r");
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      expect(openFiles(process.pid)).toContain(file);
      await new Promise((r) => setTimeout(r, 100));
      expect(processTree(process.pid)).toContain(child.pid);
    } finally {
      closeSync(fd);
      child.kill("SIGKILL");
    }
    rmSync(dir, { recursive: true, force: true });
    expect(openFiles(process.pid)).not.toContain(file);
  });
});
