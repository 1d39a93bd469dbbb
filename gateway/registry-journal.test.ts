import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MemoryStore } from "./memory-store.js";
import { loadRegistry, RegistryJournal } from "./registry-journal.js";
import type { SessionRecord } from "./store.js";

const rec = (i: number): SessionRecord => ({ sessionId: `s-${i}`, owner: `user-${i % 3}`, kind: "session", persistent: true, createdAt: i, lastActiveAt: i });
const scratches: string[] = [];
const scratch = () => {
  const file = join(mkdtempSync(join(tmpdir(), "csk-journal-")), "registry.json");
  scratches.push(file);
  return file;
};
afterAll(() => {
  for (const f of scratches) rmSync(dirname(f), { recursive: true, force: true });
});
const lineCount = (file: string) => readFileSync(file, "utf8").split("\n").filter(Boolean).length;

describe("the memory store's registry file", () => {
  it("keeps creates, updates, state changes and deletes across a restart", async () => {
    const file = scratch();
    const a = new MemoryStore(file);
    for (let i = 0; i < 5; i++) await a.createSession(rec(i));
    await a.updateSession("s-1", { lastActiveAt: 99, turns: 3 });
    await a.setSessionState("s-2", undefined, "deleting");
    await a.deleteSession("s-3");
    await a.close();
    const b = new MemoryStore(file);
    expect((await b.allSessions()).map((r) => r.sessionId).sort()).toEqual(["s-0", "s-1", "s-2", "s-4"]);
    expect(await b.getSession("s-1")).toMatchObject({ lastActiveAt: 99, turns: 3 });
    expect(await b.getSession("s-2")).toMatchObject({ state: "deleting" });
  });

  it("appends a line per changed session instead of rewriting the registry", () => {
    const file = scratch();
    const live = new Map([...Array(10).keys()].map((i) => [`s-${i}`, rec(i)] as const));
    const journal = new RegistryJournal(file, live);
    expect(lineCount(file)).toBe(10);
    live.set("s-10", rec(10));
    live.delete("s-0");
    journal.write(["s-10", "s-0"], live);
    expect(readFileSync(file, "utf8").split("\n").slice(10, 12)).toEqual([JSON.stringify({ put: rec(10) }), JSON.stringify({ del: "s-0" })]);
    expect([...loadRegistry(file).keys()].sort()).toEqual([...live.keys()].sort());
  });

  it("compacts once the journal holds more than twice the live records (and at least 1,000 lines)", () => {
    const file = scratch();
    const live = new Map([[`s-0`, rec(0)]]);
    const journal = new RegistryJournal(file, live);
    for (let n = 0; n < 999; n++) journal.write(["s-0"], live);
    expect(lineCount(file)).toBe(1000);
    journal.write(["s-0"], live);
    expect(lineCount(file)).toBe(1);
    expect(loadRegistry(file)).toEqual(live);
  });

  it("ignores a last line a crash cut short, and refuses any other unreadable line naming the file", () => {
    const file = scratch();
    writeFileSync(file, `${JSON.stringify({ put: rec(1) })}\n`);
    appendFileSync(file, `${JSON.stringify({ put: rec(2) }).slice(0, 20)}`);
    expect([...loadRegistry(file).keys()]).toEqual(["s-1"]);
    writeFileSync(file, `{"put":\n${JSON.stringify({ put: rec(2) })}\n`);
    expect(() => loadRegistry(file)).toThrow(`cannot load store file ${file}: line 1`);
  });

  it("reads a registry written before the journal (one JSON array) and rewrites it as a journal", async () => {
    const file = scratch();
    writeFileSync(file, JSON.stringify([rec(1), rec(2)]));
    const store = new MemoryStore(file);
    expect((await store.allSessions()).map((r) => r.sessionId)).toEqual(["s-1", "s-2"]);
    expect(readFileSync(file, "utf8")).toBe(`${JSON.stringify({ put: rec(1) })}\n${JSON.stringify({ put: rec(2) })}\n`);
  });

  it("starts empty without a file", () => {
    expect(loadRegistry(join(scratch(), "..", "absent.json")).size).toBe(0);
  });
});
