/**
 * Noisy neighbour under the per-user turn cap: one user keeps as many slow turns going as the
 * gateway lets it, on more sessions than a CLI server holds, while another user's turns are timed.
 * With the cap the noisy user holds its maximum and gets 429 for the rest, and the quiet user's p50
 * stays within 1.5x of its quiet baseline, measured in the same run. Without the cap (negative
 * control) the noisy user fills the server and the quiet user is refused or slowed.
 */
import { describe, expect } from "vitest";
import { expectNothingLeft } from "../leftovers.js";
import { api, conformance, createSession, recordFigure, send, sleep, target, user } from "../harness.js";

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};
/** The acceptance bound of issue 14: the others' p50 within 1.5x of the quiet baseline. */
const MAX_RATIO = 1.5;
const TURNS = 15;

describe("noisy neighbour", () => {
  conformance(["user-quotas", "sessions"], "one user holding its maximum of slow turns: another user's p50 stays within 1.5x of the quiet baseline", async () => {
    const { maxTurnsInFlightPerUser: cap, maxSessionsPerServer: capacity } = target().settings;
    if (!cap) throw new Error("the target claims user-quotas but its settings have no maxTurnsInFlightPerUser");
    const quiet = user("quiet");
    const quietSession = await createSession(quiet);
    const timedTurns = async (label: string) => {
      const ms: number[] = [];
      const failed: string[] = [];
      for (let k = 0; k < TURNS; k++) {
        const t0 = performance.now();
        const r = await send(quiet, quietSession, `${label} ${k}`);
        ms.push(performance.now() - t0);
        if (r.status !== 200) failed.push(`${r.status} ${r.text.slice(0, 120)}`);
      }
      return { ms, failed };
    };
    await send(quiet, quietSession, "warm-up");
    const baseline = await timedTurns("baseline");

    // The noisy user: one session per slot of the server, a slow turn on each, again and again.
    const noisy = user("noisy");
    const sessions = await Promise.all(Array.from({ length: capacity }, () => createSession(noisy)));
    let running = true;
    const counts = { served: 0, refused: 0, other: 0 };
    const loops = sessions.map(async (id) => {
      while (running) {
        const r = await api("POST", `/v1/sessions/${id}/messages`, { user: noisy, json: { prompt: "hog [sleep:3000]" }, timeoutMs: 60_000 });
        if (r.status === 200) counts.served++;
        else if (r.status === 429) {
          counts.refused++;
          await sleep(250);
        } else {
          counts.other++;
          await sleep(250);
        }
      }
    });
    await sleep(1_500);
    const noisyRun = await timedTurns("while noisy");
    running = false;
    await Promise.all(loops);

    const base50 = percentile(baseline.ms, 50);
    const noisy50 = percentile(noisyRun.ms, 50);
    const ratio = noisy50 / base50;
    const note = `cap ${cap} turns/user, server ${capacity} sessions; noisy user: ${counts.served} served, ${counts.refused} refused 429, ${counts.other} other; quiet user refused ${noisyRun.failed.length}/${TURNS}${noisyRun.failed.length ? ` (${noisyRun.failed[0]})` : ""}`;
    // p50 over every request of the quiet user, refusals included (a refusal is fast: see its count).
    recordFigure("noisy neighbour: quiet user's p50, baseline", Math.round(base50), "ms");
    recordFigure("noisy neighbour: quiet user's p50 while one user holds its maximum of slow turns", Math.round(noisy50), "ms", note);
    recordFigure("noisy neighbour: p50 ratio noisy/baseline", Number(ratio.toFixed(2)), "x", note);
    recordFigure("noisy neighbour: quiet user's turns served while noisy", TURNS - noisyRun.failed.length, "count", `of ${TURNS}`);

    expect(baseline.failed, "baseline turns").toEqual([]);
    expect(noisyRun.failed, `the quiet user is served while the noisy one holds its turns (${note})`).toEqual([]);
    expect(ratio, `p50 ${Math.round(noisy50)} ms vs ${Math.round(base50)} ms baseline (${note})`).toBeLessThanOrEqual(MAX_RATIO);
    expect(counts.refused, "the noisy user hit its cap").toBeGreaterThan(0);
    expect(counts.served, "the noisy user's turns within its cap were served").toBeGreaterThan(0);
    await expectNothingLeft(() => target(true));
  }, 180_000);
});
