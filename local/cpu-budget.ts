/**
 * CPU budgets for the local platform's CLI servers: one cgroup (v1 `cpu` controller) per server with
 * a CFS quota, so every server gets the same share of the machine, as a container CPU limit gives
 * a Pod. Groups live under <root>/copilot-scale-kit/run-<owner pid>-<tag>/<server id> (a process
 * may run several platforms at once); the owner removes
 * its run's groups on stop, and any start sweeps run groups whose owner died (no leftovers).
 * The CLI joins its group itself before it execs (cli-process.ts `cgroup`), so every child it
 * forks is counted too.
 */
import { existsSync, readdirSync, readFileSync, rmdirSync, mkdirSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { alive as processAlive } from "./ports.js";

export const CGROUP_CPU_ROOT = "/sys/fs/cgroup/cpu";
export const KIT_CGROUP = "copilot-scale-kit";
/** The kernel's default CFS period; the quota is a share of it. */
export const CFS_PERIOD_US = 100_000;
/** The kernel refuses quotas below 1 ms. */
const MIN_QUOTA_US = 1_000;
const RUN_RE = /^run-(\d+)-[0-9a-f]+$/;

/** Quota in microseconds per period for `cores` cores (0.5 core = 50 ms of every 100 ms). */
export function cfsQuotaUs(cores: number, periodUs = CFS_PERIOD_US): number {
  if (!Number.isFinite(cores) || cores <= 0) throw new Error(`a CPU budget must be a positive number of cores (got ${cores})`);
  return Math.max(MIN_QUOTA_US, Math.round(cores * periodUs));
}

export function runCgroupDir(ownerPid: number, tag: string, root = CGROUP_CPU_ROOT): string {
  if (!Number.isInteger(ownerPid) || ownerPid <= 0 || !/^[0-9a-f]+$/.test(tag)) throw new Error(`bad run group: pid ${ownerPid}, tag "${tag}"`);
  return join(root, KIT_CGROUP, `run-${ownerPid}-${tag}`);
}

/** The group of one server; ids are path segments, so only plain names are taken. */
export function serverCgroupDir(runDir: string, serverId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(serverId)) throw new Error(`server id "${serverId}" cannot name a cgroup`);
  return join(runDir, serverId);
}

/** Run groups (names under the kit's group) whose owner process is gone. */
export function staleRunGroups(names: readonly string[], alive: (pid: number) => boolean): string[] {
  return names.filter((n) => {
    const m = RUN_RE.exec(n);
    return m !== null && !alive(Number(m[1]));
  });
}

export interface Throttling {
  /** CFS periods in which the group had runnable work. */
  periods: number;
  /** Periods in which it used its whole quota and waited. */
  throttled: number;
  throttledSeconds: number;
}

/** Parses a v1 `cpu.stat` (nr_periods, nr_throttled, throttled_time in ns). */
export function parseCpuStat(text: string): Throttling {
  const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, "m").exec(text)?.[1] ?? NaN);
  return { periods: field("nr_periods"), throttled: field("nr_throttled"), throttledSeconds: field("throttled_time") / 1e9 };
}

/** True where this process may create quota groups (cgroup v1 cpu controller, writable). */
export function cpuBudgetSupported(root = CGROUP_CPU_ROOT): boolean {
  try {
    return existsSync(join(root, "cpu.cfs_quota_us")) && (mkdirSync(join(root, KIT_CGROUP), { recursive: true }), true);
  } catch {
    return false;
  }
}

const pidsIn = (dir: string) =>
  readFileSync(join(dir, "cgroup.procs"), "utf8")
    .split("\n")
    .filter(Boolean)
    .map(Number);

/** Removes a group: processes still in it move to the root group first (rmdir refuses a busy group). */
function removeGroup(dir: string, root: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeGroup(join(dir, e.name), root);
  for (const pid of pidsIn(dir)) {
    try {
      writeFileSync(join(root, "cgroup.procs"), String(pid));
    } catch {
      // exited meanwhile
    }
  }
  rmdirSync(dir);
}

/** The CPU budget of one platform run: a group per server, all removed by `removeAll`. */
export class CpuBudget {
  /** This run's group, parent of the servers' groups. */
  readonly dir: string;

  constructor(
    readonly cores: number,
    private readonly root = CGROUP_CPU_ROOT,
    private readonly alive: (pid: number) => boolean = processAlive,
  ) {
    cfsQuotaUs(cores); // validates
    if (!cpuBudgetSupported(root)) throw new Error(`a CPU budget per CLI needs the cgroup v1 cpu controller at ${root}, writable (run as root)`);
    this.dir = runCgroupDir(process.pid, randomBytes(4).toString("hex"), root);
    this.sweep();
  }

  /** Removes the groups of runs whose owner died (a crashed bench or supervisor). */
  sweep(): string[] {
    const kit = join(this.root, KIT_CGROUP);
    const stale = staleRunGroups(readdirSync(kit), this.alive);
    for (const name of stale) removeGroup(join(kit, name), this.root);
    return stale;
  }

  /** Creates (or re-arms, after a restart) a server's group; returns the directory the CLI joins. */
  prepare(serverId: string): string {
    const dir = serverCgroupDir(this.dir, serverId);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "cpu.cfs_period_us"), String(CFS_PERIOD_US));
    writeFileSync(join(dir, "cpu.cfs_quota_us"), String(cfsQuotaUs(this.cores)));
    return dir;
  }

  throttling(serverId: string): Throttling {
    return parseCpuStat(readFileSync(join(serverCgroupDir(this.dir, serverId), "cpu.stat"), "utf8"));
  }

  /** Removes every group of this run (and the kit's group when no other run has one). */
  removeAll(): void {
    removeGroup(this.dir, this.root);
    try {
      rmdirSync(join(this.root, KIT_CGROUP));
    } catch {
      // another run's groups are still there
    }
  }
}
