/**
 * The in-process store's registry on disk: an append-only journal, one JSON line per change (a
 * record as written, or a deletion), compacted into a fresh file once it holds more than twice as
 * many lines as live records. A burst of writes appends its few lines, where rewriting the whole
 * registry cost all of it per burst (about 2.5 MB of JSON twenty times a second at 10,000 sessions).
 * The format, and what a crash can leave, are in topology/registry-file.ts.
 */
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { dirname } from "node:path";
import writeFileAtomic from "write-file-atomic";
import { deleteLine, parseRegistry, putLine } from "../topology/registry-file.js";
import type { SessionRecord } from "./store.js";

/** Below this many lines a journal is never compacted (compaction would cost more than it saves). */
const MIN_COMPACT_LINES = 1_000;

/** The records a registry file holds (topology/registry-file.ts); empty when there is none. */
export function loadRegistry(file: string): Map<string, SessionRecord> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return new Map();
    throw new Error(`cannot load store file ${file}: ${(err as Error).message}`);
  }
  return parseRegistry<SessionRecord>(text, file);
}

export class RegistryJournal {
  private lines = 0;

  /** Starts a fresh journal holding `live` (compacting whatever the file held). */
  constructor(
    private readonly file: string,
    live: ReadonlyMap<string, SessionRecord>,
  ) {
    mkdirSync(dirname(file), { recursive: true });
    this.compact(live);
  }

  /** Records the current state of the sessions in `changed` (absent from `live`: deleted). */
  write(changed: Iterable<string>, live: ReadonlyMap<string, SessionRecord>): void {
    const lines: string[] = [];
    for (const id of changed) {
      const r = live.get(id);
      lines.push(r ? putLine(r) : deleteLine(id));
    }
    if (!lines.length) return;
    if (this.lines + lines.length > Math.max(MIN_COMPACT_LINES, 2 * live.size)) return this.compact(live);
    // No fsync on this coalesced hot path (as the snapshot before it): a crash loses at most the last burst.
    appendFileSync(this.file, `${lines.join("\n")}\n`);
    this.lines += lines.length;
  }

  /** Rewrites the file with one line per live record; the rename keeps it whole. */
  private compact(live: ReadonlyMap<string, SessionRecord>): void {
    const text = [...live.values()].map((r) => `${putLine(r)}\n`).join("");
    writeFileAtomic.sync(this.file, text, { fsync: false });
    this.lines = live.size;
  }
}
