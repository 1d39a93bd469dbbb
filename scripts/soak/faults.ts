/**
 * Injects the soak's faults into a running local platform, one component at a time (a fault on a
 * component still recovering from the last one waits for it): SIGKILL, SIGSTOP then SIGCONT, and
 * SIGTERM of real processes, and a CLI whose session-state folder is made immutable (chattr +i).
 * The platform's supervisor restarts what dies; the injector only waits for it. Every pid it saw
 * is kept, so the run can check that none is left after the platform stopped.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { startTime } from "../../conformance/leftovers.js";
import type { TargetDescriptor } from "../../topology/index.js";
import type { Fault, FaultKind } from "./schedule.js";

export interface Injected {
  /** Milliseconds since the injector started. */
  atMs: number;
  kind: FaultKind;
  target: string;
  pid: number;
  /** Kills: until the supervisor's replacement runs; pauses and unwritable: the hold. */
  recoveredMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const isAlive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

export class FaultInjector {
  readonly injected: Injected[] = [];
  readonly skipped: { kind: FaultKind; target: string; reason: string }[] = [];
  /** Every process the target listed, with its start time (a pid can be reused later). */
  readonly pidsSeen = new Map<number, string | undefined>();
  private readonly busy = new Map<string, Promise<void>>();
  private readonly paused = new Set<number>();
  private readonly immutable = new Set<string>();
  private stopped = false;
  private readonly t0 = Date.now();

  constructor(
    private readonly target: () => TargetDescriptor,
    private readonly log: (line: string) => void,
  ) {}

  /** Records every pid the target lists now (servers, gateways, store). */
  notePids(): void {
    const t = this.target();
    for (const p of [...t.servers.map((s) => s.pid), ...(t.gateways ?? []).map((g) => g.pid), t.store?.pid]) {
      if (p && !this.pidsSeen.has(p)) this.pidsSeen.set(p, startTime(p));
    }
  }

  /** Runs the schedule until stop(); faults on different components may overlap. */
  async run(schedule: Fault[]): Promise<void> {
    for (const f of schedule) {
      await sleep(f.gapMs);
      if (this.stopped) break;
      const component = this.component(f);
      const prev = this.busy.get(component) ?? Promise.resolve();
      this.busy.set(component, prev.then(() => (this.stopped ? undefined : this.inject(f, component))));
    }
  }

  /** Stops scheduling and waits for faults in progress to end (they undo their own pauses). */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.busy.values());
    this.restore();
    this.notePids();
  }

  /** Undoes every pause and immutable folder at once (also on Ctrl-C). */
  restore(): void {
    for (const pid of this.paused) if (isAlive(pid)) process.kill(pid, "SIGCONT");
    for (const dir of this.immutable) execFileSync("chattr", ["-i", dir]);
    this.paused.clear();
    this.immutable.clear();
  }

  private component(f: Fault): string {
    if (f.kind.startsWith("gateway")) return `gateway-${f.replica % (this.target().gateways?.length ?? 1)}`;
    if (f.kind.startsWith("redis")) return "redis";
    return `cli-${f.replica % this.target().servers.length}`;
  }

  private pidOf(component: string): number | undefined {
    const t = this.target();
    if (component === "redis") return t.store?.pid;
    if (component.startsWith("gateway-")) return t.gateways?.[Number(component.slice(8))]?.pid;
    return t.servers[Number(component.slice(4))]?.pid;
  }

  /** The component's live pid, waiting for a restart in progress (bounded). */
  private async livePid(component: string, timeoutMs = 30_000): Promise<number | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const pid = this.pidOf(component);
      if (pid && isAlive(pid)) return pid;
      await sleep(200);
    }
    return undefined;
  }

  private async inject(f: Fault, component: string): Promise<void> {
    this.notePids();
    const pid = await this.livePid(component);
    if (!pid) {
      this.skipped.push({ kind: f.kind, target: component, reason: "not running within 30 s" });
      return;
    }
    const atMs = Date.now() - this.t0;
    const t0 = Date.now();
    this.log(`fault ${f.kind} on ${component} (pid ${pid})`);
    const signal = f.kind.split("-")[1]!.toUpperCase() as NodeJS.Signals;
    if (f.kind === "cli-unwritable") {
      const server = this.target().servers[Number(component.slice(4))]!;
      const dir = join(server.home!, "session-state");
      execFileSync("chattr", ["+i", dir]);
      this.immutable.add(dir);
      try {
        await sleep(f.holdMs);
      } finally {
        execFileSync("chattr", ["-i", dir]);
        this.immutable.delete(dir);
      }
    } else if (signal === "SIGSTOP") {
      process.kill(pid, "SIGSTOP");
      this.paused.add(pid);
      try {
        await sleep(f.holdMs);
      } finally {
        process.kill(pid, "SIGCONT");
        this.paused.delete(pid);
      }
    } else {
      process.kill(pid, signal);
      // The supervisor restarts it (after its delay); the next fault on it waits for the new pid.
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline && (this.pidOf(component) === pid || !isAlive(this.pidOf(component) ?? pid))) await sleep(200);
      this.notePids();
    }
    this.injected.push({ atMs, kind: f.kind, target: component, pid, recoveredMs: Date.now() - t0 });
  }
}
