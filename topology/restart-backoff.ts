/**
 * The one restart backoff of every supervisor of processes (the gateway's per-user CLI servers, the
 * local platform's CLIs, gateways and Redis), shaped like an orchestrator's CrashLoopBackOff: the
 * delay doubles from `baseMs` with each failure in a row, up to `capMs`.
 */
export function restartBackoffMs(failuresInARow: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, failuresInARow - 1));
}
