/** The streaming section of the benchmark results: its target and its Markdown (pure; report.ts assembles). */
import { round, type Summary } from "./stats.js";
import type { StreamingResult } from "./streaming.js";

const ms = (v: number) => `${round(v)} ms`;
const row = (what: string, v: Summary) => `| ${what} | ${v.n} | ${ms(v.p50)} | ${v.p90 === undefined ? "-" : ms(v.p90)} | ${ms(v.p99)} | ${ms(v.max)} |`;

export function streamingTarget(st: StreamingResult | undefined) {
  const open = st?.openAtOnce === undefined ? "" : `, ${st.openAtOnce} open at once`;
  return {
    name: "streaming: first delta added by the gateway at p50, no stream lost",
    target: "<= 2 ms, 0 lost",
    measured: st ? `${round(st.addedP50Ms)} ms at ${st.concurrency} concurrent streams${open}, ${st.lostStreams} lost` : "pending",
    // Every stream must have been open at the same moment for the figure to count (probed results).
    met: st ? st.addedP50Ms <= 2 && st.lostStreams === 0 && (st.openAtOnce === undefined || st.openAtOnce >= st.concurrency) : undefined,
  };
}

export function renderStreaming(x: StreamingResult, when: string): string[] {
  const tail = `streams lost: ${x.lostStreams}; gateway RSS ${round(x.gatewayRssMiB.before)} → peak ${round(x.gatewayRssMiB.peak)} MiB; gateway CPU ${round(x.gatewayCpuMsPerTurn)} ms per streamed turn`;
  if (!x.probes) {
    return [
      "## Streaming at scale",
      "",
      `${x.concurrency} SSE turns at once through one gateway replica beside ${x.concurrency} direct SDK turns on the same CLI, mock model delay ${x.modelDelayMs} ms; time to the first delta (${when}).`,
      "",
      "| path | n | p50 | p90 | p99 | max |",
      "| --- | --- | --- | --- | --- | --- |",
      row("gateway (SSE)", x.gatewayFirstDeltaMs),
      ...(x.directFirstDeltaMs ? [row("direct SDK", x.directFirstDeltaMs)] : []),
      "",
      `Added at p50: ${ms(x.addedP50Ms)}; ${tail}.`,
      "",
    ];
  }
  return [
    "## Streaming at scale",
    "",
    `${x.concurrency} SSE turns through one gateway replica, spread evenly over ${x.loadServers} CLI servers (sticky), started at ${x.openPerSecond ?? "-"} per second, each held ${x.modelDelayMs} ms by the mock model so all are open at once: at most ${x.openAtOnce} held at the same moment. ` +
      `Time to the first delta of probe turns on one more CLI server that carries no load: a pair is one SSE turn through the gateway and one direct SDK turn, one after the other, alternating which goes first; ` +
      `idle is before the load, open while the model held every load turn, opening and closing while load turns were still starting or already ending (${when}).`,
    "",
    "| probes | n | p50 | p90 | p99 | max |",
    "| --- | --- | --- | --- | --- | --- |",
    ...x.probes
      .filter((p) => p.pairs > 0)
      .flatMap((p) => [row(`${p.phase}: gateway (SSE)`, p.gatewayFirstDeltaMs), row(`${p.phase}: direct SDK`, p.directFirstDeltaMs), row(`${p.phase}: per pair, gateway − direct`, p.differenceMs)]),
    row("load streams through the gateway (hold included)", x.gatewayFirstDeltaMs),
    "",
    `Added at p50 while all streams were open (median per-pair difference): ${ms(x.addedP50Ms)}; ${tail} (load and probe turns); loaded CLI servers' RSS ${x.cliRssMiB === undefined ? "-" : `${round(x.cliRssMiB)} MiB`} with every stream open; slowest ping of a loaded CLI ${x.cliPingMaxMs === undefined ? "-" : ms(x.cliPingMaxMs)}, longest gateway event-loop delay ${x.gatewayLoopLagMaxMs === undefined ? "-" : ms(x.gatewayLoopLagMaxMs)} (sampled each second)${x.coresWhileOpen ? `; cores busy while every stream was held open: loaded CLIs ${round(x.coresWhileOpen.cliServers)}, gateway ${round(x.coresWhileOpen.gateway)}` : ""}.`,
    "",
  ];
}
