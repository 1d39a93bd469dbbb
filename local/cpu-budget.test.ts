/** CPU budgets: the quota and path arithmetic, and (as root on cgroup v1) real groups joined by a launched process and removed. */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { startCliServer, type CliServerHandle } from "../gateway/cli-process.js";
import { CGROUP_CPU_ROOT, cfsQuotaUs, cpuBudgetSupported, CpuBudget, KIT_CGROUP, parseCpuStat, runCgroupDir, serverCgroupDir, staleRunGroups } from "./cpu-budget.js";

describe("CPU budget arithmetic", () => {
  it("turns cores into a CFS quota per 100 ms period, never below the kernel's 1 ms", () => {
    expect(cfsQuotaUs(0.5)).toBe(50_000);
    expect(cfsQuotaUs(0.4)).toBe(40_000);
    expect(cfsQuotaUs(2)).toBe(200_000);
    expect(cfsQuotaUs(0.5, 50_000)).toBe(25_000);
    expect(cfsQuotaUs(0.001)).toBe(1_000);
  });

  it("refuses budgets that are not a positive number of cores", () => {
    for (const bad of [0, -0.5, Number.NaN, Number.POSITIVE_INFINITY]) expect(() => cfsQuotaUs(bad)).toThrow(/positive number of cores/);
  });

  it("names a group per run and per server, and refuses ids that are not one path segment", () => {
    const run = runCgroupDir(42, "ab12", "/cg");
    expect(run).toBe(`/cg/${KIT_CGROUP}/run-42-ab12`);
    expect(serverCgroupDir(run, "cli-0")).toBe(`/cg/${KIT_CGROUP}/run-42-ab12/cli-0`);
    for (const bad of ["", "..", "../x", "a/b", ".hidden"]) expect(() => serverCgroupDir(run, bad)).toThrow(/cannot name a cgroup/);
    expect(() => runCgroupDir(0, "ab")).toThrow(/bad run group/);
    expect(() => runCgroupDir(42, "../x")).toThrow(/bad run group/);
  });

  it("finds the run groups whose owner is gone and nothing else", () => {
    const names = ["run-100-ab", "run-200-cd", "run-300", "other", "run-x-ab", "cli-0"];
    expect(staleRunGroups(names, (pid) => pid === 100)).toEqual(["run-200-cd"]);
    expect(staleRunGroups(names, () => true)).toEqual([]);
  });

  it("reads throttling from cpu.stat", () => {
    const t = parseCpuStat("nr_periods 200\nnr_throttled 150\nthrottled_time 7500000000\nnr_bursts 0\n");
    expect(t).toEqual({ periods: 200, throttled: 150, throttledSeconds: 7.5 });
    expect(Number.isNaN(parseCpuStat("").periods)).toBe(true);
  });
});

/** Which cpu group a process is in, from /proc (v1: `N:cpu:/path`). */
const cpuGroupOf = (pid: number) => /^\d+:(?:[\w,]*,)?cpu(?:,[\w,]*)?:(.*)$/m.exec(readFileSync(`/proc/${pid}/cgroup`, "utf8"))?.[1];

describe.skipIf(!cpuBudgetSupported())("CPU budget on this machine's cgroups", () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  /** A stand-in CLI: prints the CLI's ready line, then sleeps. */
  function fakeCli(): string {
    const dir = mkdtempSync(join(tmpdir(), "cpu-budget-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "copilot");
    writeFileSync(path, "#!/bin/sh\necho 'CLI server listening on port 1'\nexec sleep 300\n");
    chmodSync(path, 0o755);
    return path;
  }
  async function launch(cliPath: string, cgroup?: string): Promise<CliServerHandle> {
    const h = await startCliServer({ cliPath, home: join(cliPath, "..", "home"), connectionToken: "t", cgroup });
    cleanups.push(() => h.stop(500));
    return h;
  }

  it("a launched process runs in its server's group under the quota; stop removes every group", async () => {
    const budget = new CpuBudget(0.5);
    const dir = budget.prepare("cli-0");
    expect(readFileSync(join(dir, "cpu.cfs_quota_us"), "utf8").trim()).toBe("50000");
    const cli = fakeCli();
    const inside = await launch(cli, dir);
    // Negative control: without `cgroup` the same launch stays where its parent is.
    const outside = await launch(cli);
    expect(cpuGroupOf(inside.pid)).toBe(dir.slice(CGROUP_CPU_ROOT.length));
    expect(cpuGroupOf(outside.pid)).not.toBe(dir.slice(CGROUP_CPU_ROOT.length));
    expect(budget.throttling("cli-0").periods).toBeGreaterThanOrEqual(0);
    await inside.stop(500);
    budget.removeAll();
    expect(existsSync(budget.dir)).toBe(false);
  });

  it("removes a group a process still runs in (a stop that failed) by moving it out first", async () => {
    const budget = new CpuBudget(0.25);
    const live = await launch(fakeCli(), budget.prepare("cli-1"));
    budget.removeAll();
    expect(existsSync(budget.dir)).toBe(false);
    expect(cpuGroupOf(live.pid)).toBe("/");
  });

  it("a new budget sweeps the groups of a run whose owner died", () => {
    const dead = spawnSync("true").pid!;
    const stale = join(CGROUP_CPU_ROOT, KIT_CGROUP, `run-${dead}-dead`, "cli-0");
    mkdirSync(stale, { recursive: true });
    const budget = new CpuBudget(0.5);
    cleanups.push(() => budget.removeAll());
    expect(existsSync(join(stale, ".."))).toBe(false);
  });
});
