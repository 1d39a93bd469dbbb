/**
 * The local platform's restart policy "always", like an orchestrator's: a process that exited is
 * started again after a delay, backing off while its start keeps failing, until the platform stops.
 */
import { restartBackoffMs } from "../topology/restart-backoff.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class RestartPolicy {
  /** Restarts under way: stop waits for them, so a process one of them is starting is stopped too. */
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly delayMs: number,
    private readonly log: (line: string) => void,
    private readonly stopping: () => boolean,
    /** After a successful restart (the platform rewrites its target). */
    private readonly restarted: () => void,
  ) {}

  restart(name: string, code: number | string, start: () => Promise<void>): Promise<void> {
    const p = this.loop(name, code, start);
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
    return p;
  }

  /** Resolves once every restart under way has ended (call after `stopping` turned true). */
  async settled(): Promise<void> {
    await Promise.all(this.pending);
  }

  private async loop(name: string, code: number | string, start: () => Promise<void>): Promise<void> {
    if (this.stopping()) return;
    this.log(`${name} exited (${code}); restarting in ${this.delayMs} ms`);
    await sleep(this.delayMs);
    for (let attempt = 1; !this.stopping(); attempt++) {
      try {
        await start();
        this.restarted();
        return;
      } catch (err) {
        this.log(`${name} restart ${attempt} failed: ${(err as Error).message}`);
        await sleep(restartBackoffMs(attempt, this.delayMs, 10_000));
      }
    }
  }
}
