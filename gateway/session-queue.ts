/**
 * One queue per session id: calls for the same session run one after another on this replica
 * (turns never overlap), calls for different sessions run concurrently. A failed call does not
 * block the ones behind it.
 */
export class SessionQueue {
  private readonly chains = new Map<string, Promise<unknown>>();

  /** Runs fn after every earlier call for the same session id has settled. */
  run<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(id) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(id, tail);
    void tail.then(() => {
      if (this.chains.get(id) === tail) this.chains.delete(id);
    });
    return next;
  }

  /** A call for this session runs or waits. */
  has(id: string): boolean {
    return this.chains.has(id);
  }
}
