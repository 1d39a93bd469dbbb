/** The files a local process and its descendants hold open, read from /proc (Linux). */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/** pid plus every descendant (a CLI may run helper processes). */
export function processTree(pid: number): number[] {
  const out = [pid];
  for (let i = 0; i < out.length; i++) {
    const p = out[i]!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      try {
        for (const c of readFileSync(`/proc/${p}/task/${t}/children`, "utf8").split(/\s+/).filter(Boolean)) out.push(Number(c));
      } catch {
        // the task ended meanwhile
      }
    }
  }
  return out;
}

/** Paths of the regular files a process holds open (sockets, pipes and anon inodes left out). */
export function openFiles(pid: number): string[] {
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const fd of fds) {
    try {
      const path = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (path.startsWith("/")) out.push(path.replace(/ \(deleted\)$/, ""));
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Database and lock files: what must never be shared between CLI servers (SQLite WAL, flock). */
export const SHARED_FORBIDDEN = /(\.db|\.db-wal|\.db-shm|-wal|-shm|\.lock)$/;

/** Files matching `pattern` held open by more than one of the given process groups (by server id). */
export function sharedOpenFiles(openByServer: Map<string, Set<string>>, pattern = SHARED_FORBIDDEN): { path: string; servers: string[] }[] {
  const holders = new Map<string, string[]>();
  for (const [server, paths] of openByServer) {
    for (const path of paths) {
      if (!pattern.test(path)) continue;
      holders.set(path, [...(holders.get(path) ?? []), server]);
    }
  }
  return [...holders].filter(([, servers]) => servers.length > 1).map(([path, servers]) => ({ path, servers }));
}
