/**
 * The local platform's registry of per-user CLI processes: a file the gateway rewrites whenever a
 * server starts or stops (the platform mirrors it into the target descriptor), and on start the
 * processes a crashed predecessor listed there and left running, which it stops.
 */
import { existsSync, mkdirSync, readFileSync, readlinkSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Logger } from "pino";
import writeFileAtomic from "write-file-atomic";

/** One spawned server as listed in the registry file. */
export interface SpawnRegistryEntry {
  id: string;
  user: string;
  address: string;
  connectionToken: string;
  pid: number;
  home: string;
}

export class SpawnRegistry {
  constructor(
    private readonly file: string,
    private readonly log: Logger,
    private readonly stopGraceMs: number,
  ) {}

  /** Atomic and owner-only: it holds the connection tokens. */
  write(entries: SpawnRegistryEntry[]): void {
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      writeFileAtomic.sync(this.file, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600 });
    } catch (err) {
      this.log.warn({ err: (err as Error).message, file: this.file }, "could not write the spawn registry");
    }
  }

  /** CLIs listed by a predecessor that died without stopping them; identified by their working directory (= home). */
  async reapOrphans(): Promise<void> {
    if (!existsSync(this.file)) return;
    let listed: SpawnRegistryEntry[];
    try {
      listed = JSON.parse(readFileSync(this.file, "utf8")) as SpawnRegistryEntry[];
    } catch {
      return;
    }
    const orphans = listed.filter((e) => isCliIn(e.pid, e.home));
    for (const e of orphans) {
      this.log.warn({ server: e.id, pid: e.pid }, "stopping a per-user CLI left behind by an earlier gateway");
      signal(e.pid, "SIGTERM");
    }
    const deadline = Date.now() + this.stopGraceMs;
    while (orphans.some((e) => isCliIn(e.pid, e.home)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    for (const e of orphans) if (isCliIn(e.pid, e.home)) signal(e.pid, "SIGKILL");
  }
}

function isCliIn(pid: number, home: string): boolean {
  try {
    return resolve(readlinkSync(`/proc/${pid}/cwd`)) === resolve(home);
  } catch {
    return false;
  }
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}
