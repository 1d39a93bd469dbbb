/**
 * Machine-wide CPU time from /proc/stat, so a benchmark can say how busy the whole machine was
 * (its own processes and everyone else's) beside what its own processes used. Parsing is pure.
 */
import { readFileSync } from "node:fs";

/** Clock ticks per second of /proc/stat on Linux. */
const TICKS = 100;

/** Busy and total CPU seconds over all cores from the aggregate `cpu` line (idle and iowait are not busy). */
export function parseProcStat(text: string): { busySeconds: number; totalSeconds: number } {
  const line = /^cpu\s+([\d ]+)$/m.exec(text)?.[1];
  if (!line) throw new Error("/proc/stat has no aggregate cpu line");
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is already in user.
  const [user, nice, system, idle, iowait, irq, softirq, steal] = line.trim().split(/\s+/).map(Number) as number[];
  const busy = user! + nice! + system! + irq! + softirq! + steal!;
  return { busySeconds: busy / TICKS, totalSeconds: (busy + idle! + iowait!) / TICKS };
}

export function machineCpu(): { busySeconds: number; totalSeconds: number } {
  return parseProcStat(readFileSync("/proc/stat", "utf8"));
}
