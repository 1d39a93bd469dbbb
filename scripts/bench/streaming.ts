/**
 * Streaming at scale: `streams` SSE turns open at once through ONE gateway replica, spread evenly
 * over `loadServers` CLI servers (sticky; user names pinned by rendezvous hashing), every load turn
 * held by the mock model for `holdMs` (`[sleep:]`) so that all of them are open at the same time.
 * They open at `openPerSecond` (a burst of 250 turns at once on one CLI delays its pings past the
 * gateway's 1.5 s health timeout, and the gateway then drops the connection with every turn on it).
 * The gateway's added time to first delta is measured apart from the loaded CLIs' queues: probe
 * pairs, one SSE turn through the gateway and one direct SDK turn (TCP_NODELAY on, as the gateway's
 * own client; alternating which goes first, one at a time), on one more CLI server that carries no load, before the load (idle) and while
 * every load stream is open (the model holds all of them). Also the replica's RSS and CPU, and
 * that every load stream ended with `done` carrying its own reply (none lost).
 */
import { CopilotClient, RuntimeConnection, type CopilotSession, type SessionConfig } from "@github/copilot-sdk";
import { disableNagle } from "../../gateway/backends.js";
import { rendezvous } from "../../gateway/routing.js";
import type { TargetDescriptor } from "../../topology/index.js";
import { parseMarker } from "../load/checks.js";
import { cpuSecondsOf, GatewayClient, memoryOf, pool, sleep, withPlatform } from "./harness.js";
import { pinnedUsers } from "./pinned-users.js";
import { summarize, type Summary } from "./stats.js";

export type ProbePhaseName = "idle" | "opening" | "open" | "closing";

export interface ProbePhase {
  /** idle: before the load; opening: load turns still reaching the model; open: the model holds every load turn; closing: load streams ending. */
  phase: ProbePhaseName;
  pairs: number;
  gatewayFirstDeltaMs: Summary;
  directFirstDeltaMs: Summary;
  /** Per pair: gateway − direct (same moment, same CLI). */
  differenceMs: Summary;
}

export interface StreamingResult {
  concurrency: number;
  modelDelayMs: number;
  loadServers?: number;
  /** Load streams started per second. */
  openPerSecond?: number;
  /** Most load turns the model held at once: streams open at the same moment. */
  openAtOnce?: number;
  probes?: ProbePhase[];
  /** Load streams: time to the first delta (the hold included). */
  gatewayFirstDeltaMs: Summary;
  /** The 2026-11-28 shape: direct SDK turns beside the load on the same CLI. */
  directFirstDeltaMs?: Summary;
  /** With probes: median per-pair difference while every stream is open; before: gateway p50 − direct p50. */
  addedP50Ms: number;
  lostStreams: number;
  /** Lost streams by reason (HTTP status and error code). */
  failures?: Record<string, number>;
  gatewayRssMiB: { before: number; peak: number };
  /** Gateway CPU over the load window over the turns it streamed (load and probe turns). */
  gatewayCpuMsPerTurn: number;
  /** The loaded CLI servers' RSS, summed, while every stream was open. */
  cliRssMiB?: number;
  /** Sampled each second during the load: slowest ping of a loaded CLI (own connection), and the gateway's longest event-loop delay. */
  cliPingMaxMs?: number;
  gatewayLoopLagMaxMs?: number;
  /** Cores busy while every stream was held open (nothing streaming yet): the loaded CLIs together, the gateway. */
  coresWhileOpen?: { cliServers: number; gateway: number };
}

export interface StreamingOptions {
  streams?: number;
  loadServers?: number;
  holdMs?: number;
  probePairs?: number;
  /** Load streams started per second. */
  openPerSecond?: number;
}

const PROBE_PAUSE_MS = 250;
/** Sessions per load user (the gateway's per-user turn cap is 64 locally). */
const SESSIONS_PER_USER = 25;

interface StreamOutcome {
  firstMs: number;
  done: boolean;
  content?: string;
  /** Why a stream failed: HTTP status and the error code of its body or `error` event. */
  failure?: string;
}

/** One SSE turn through the gateway: ms to the first delta event, and the `done` event's reply. */
async function gatewayStream(gw: GatewayClient, id: string, prompt: string): Promise<StreamOutcome> {
  const t0 = performance.now();
  const res = await fetch(`${gw.base}/v1/sessions/${id}/messages`, {
    method: "POST",
    headers: { authorization: `Bearer ${gw.token}`, "content-type": "application/json", accept: "text/event-stream" },
    body: JSON.stringify({ prompt }),
  });
  let firstMs = NaN;
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    text += decoder.decode(chunk, { stream: true });
    if (Number.isNaN(firstMs) && text.includes("event: delta")) {
      firstMs = performance.now() - t0;
    }
  }
  const done = /event: done\ndata: (.*)\n/.exec(text)?.[1];
  const failure = done ? undefined : `${res.status} ${/"code":"([^"]+)"/.exec(text)?.[1] ?? "no done event"}`;
  return { firstMs, done: res.status === 200 && done !== undefined, content: done ? (JSON.parse(done) as { content?: string }).content : undefined, failure };
}

/** One direct SDK turn: ms to the first delta, and whether the turn ended. */
async function directStream(session: CopilotSession, prompt: string): Promise<StreamOutcome> {
  const t0 = performance.now();
  let firstMs = NaN;
  const off = session.on((event) => {
    if (event.type === "assistant.message_delta" && Number.isNaN(firstMs)) firstMs = performance.now() - t0;
  });
  try {
    const reply = await session.sendAndWait({ prompt }, 300_000);
    return { firstMs, done: reply !== undefined };
  } finally {
    off();
  }
}

function phaseSummary(phase: ProbePhaseName, pairs: { phase: ProbePhaseName; g: number; d: number }[]): ProbePhase {
  const mine = pairs.filter((p) => p.phase === phase && Number.isFinite(p.g) && Number.isFinite(p.d));
  return {
    phase,
    pairs: mine.length,
    gatewayFirstDeltaMs: summarize(mine.map((p) => p.g)),
    directFirstDeltaMs: summarize(mine.map((p) => p.d)),
    differenceMs: summarize(mine.map((p) => p.g - p.d)),
  };
}

/**
 * Why streams may be lost: the gateway drops a CLI's connection (and every turn on it) when a
 * health ping takes over 1.5 s, from a slow CLI or from its own late event loop. Samples both.
 */
async function watchLoad(servers: TargetDescriptor["servers"], adminUrl: string, done: () => boolean) {
  const clients = servers.map((s) => new CopilotClient({ connection: RuntimeConnection.forUri(s.address, { connectionToken: s.connectionToken }) }));
  let cliPingMaxMs = 0;
  let gatewayLoopLagMaxMs = 0;
  try {
    await Promise.all(clients.map((c) => c.start()));
    while (!done()) {
      await Promise.all([
        ...clients.map(async (c) => {
          const t0 = performance.now();
          await c.ping("bench").catch(() => undefined);
          cliPingMaxMs = Math.max(cliPingMaxMs, performance.now() - t0);
        }),
        fetch(`${adminUrl}/metrics`).then(async (r) => {
          const lag = Number(/^copilot_gateway_nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(await r.text())?.[1] ?? 0);
          gatewayLoopLagMaxMs = Math.max(gatewayLoopLagMaxMs, lag * 1000);
        }),
      ]);
      await sleep(1_000);
    }
  } finally {
    await Promise.all(clients.map((c) => c.forceStop().catch(() => undefined)));
  }
  return { cliPingMaxMs, gatewayLoopLagMaxMs };
}

export async function measureStreaming(opts: StreamingOptions = {}): Promise<StreamingResult> {
  const streams = opts.streams ?? 1_000;
  const loadServers = opts.loadServers ?? 4;
  const holdMs = opts.holdMs ?? 150_000;
  const probePairs = opts.probePairs ?? 40;
  const openPerSecond = opts.openPerSecond ?? 12;
  const perServer = Math.ceil(streams / loadServers);
  return withPlatform({ topology: "sticky", servers: loadServers + 1, maxSessionsPerServer: perServer + 10 }, async (platform, target) => {
    const ids = target.servers.map((s) => s.id);
    const loadIds = ids.slice(0, loadServers);
    const probeServer = target.servers[loadServers]!;
    const gatewayPid = target.gateways![0]!.pid;
    const loadPids = target.servers.slice(0, loadServers).map((s) => s.pid!);
    const { model } = platform.gatewayConfig(0, 0).config;
    const statsUrl = model!.providerBaseUrl!.replace(/\/v1$/, "/mock/stats");
    const holding = async () => ((await (await fetch(statsUrl)).json()) as { holding: number }).holding;

    const usersPerServer = Math.ceil(perServer / SESSIONS_PER_USER);
    const pinned = pinnedUsers("bench-stream", ids, Object.fromEntries(loadIds.map((id) => [id, usersPerServer])), rendezvous);
    const probeUser = pinnedUsers("bench-probe", ids, { [probeServer.id]: 1 }, rendezvous)[probeServer.id]![0]!;
    const clients = new Map<string, GatewayClient>();
    const clientOf = async (user: string) => clients.get(user) ?? clients.set(user, await GatewayClient.forUser(target, user)).get(user)!;
    // Stream i runs on load server i mod L, for one of that server's users.
    const load = await Promise.all(Array.from({ length: streams }, (_, i) => clientOf(pinned[loadIds[i % loadServers]!]![Math.floor(i / loadServers) % usersPerServer]!)));
    const loadSessions = new Array<string>(streams);
    console.log(`  streaming: creating ${streams} sessions on ${loadServers} CLI servers…`);
    await pool(streams, 8, async (i) => {
      loadSessions[i] = await load[i]!.createSession();
    });

    const probeGw = await clientOf(probeUser);
    const probeSession = await probeGw.createSession();
    const client = new CopilotClient({ connection: RuntimeConnection.forUri(probeServer.address, { connectionToken: probeServer.connectionToken }) });
    await client.start();
    // As the gateway's own client does (backends.ts): with Nagle on, the direct path would wait
    // ~40 ms for a delayed ACK and the comparison would flatter the gateway.
    if (!disableNagle(client)) throw new Error("streaming bench: the SDK client has no socket to set TCP_NODELAY on");
    let direct: CopilotSession | undefined;
    try {
      direct = await client.createSession({
        sessionId: `bench-probe-direct-${Date.now()}`,
        streaming: true,
        model: model?.name,
        provider: model?.providerBaseUrl ? { type: model.providerType ?? "openai", baseUrl: model.providerBaseUrl } : undefined,
        onPermissionRequest: () => ({ kind: "denied-no-approval-rule-and-could-not-request-from-user" as const }),
      } as SessionConfig);
      const pairs: { phase: ProbePhaseName; g: number; d: number }[] = [];
      let k = 0;
      const pair = async (phaseAt: () => Promise<ProbePhaseName>, record = true) => {
        const before = await phaseAt();
        const g = () => gatewayStream(probeGw, probeSession, `p${k}`);
        const d = () => directStream(direct!, `p${k}`);
        // Alternate which path goes first, so drift hits both.
        const [rg, rd] = k++ % 2 === 0 ? [await g(), await d()] : await d().then(async (x) => [await g(), x] as const);
        const after = await phaseAt();
        if (record) pairs.push({ phase: before === "open" && after === "open" ? "open" : before, g: rg.firstMs, d: rd.firstMs });
      };
      for (let i = 0; i < 5; i++) await pair(async () => "idle", false); // warm-up: attach, JIT
      console.log(`  streaming: ${probePairs} idle probe pairs…`);
      for (let i = 0; i < probePairs; i++) await pair(async () => "idle");
      console.log(`  streaming: opening ${streams} streams at ${openPerSecond}/s, each held ${holdMs} ms…`);

      // The load: every stream at once; probes run one pair after another until all have ended.
      const rssBefore = memoryOf(gatewayPid).rssMiB;
      let peak = rssBefore;
      let openAtOnce = 0;
      let cliRssMiB: number | undefined;
      let loadDone = false;
      const cpu0 = cpuSecondsOf(gatewayPid);
      const probeTurnsBefore = k;
      const loadStart = performance.now();
      const outcomes = Promise.all(
        loadSessions.map(async (id, i) => {
          await sleep(loadStart + (i * 1000) / openPerSecond - performance.now());
          return gatewayStream(load[i]!, id, `s${i} [sleep:${holdMs}]`);
        }),
      ).finally(() => (loadDone = true));
      const cpuNow = () => ({ at: performance.now(), cli: loadPids.reduce((n, pid) => n + cpuSecondsOf(pid), 0), gateway: cpuSecondsOf(gatewayPid) });
      let openFrom: ReturnType<typeof cpuNow> | undefined;
      let coresWhileOpen: StreamingResult["coresWhileOpen"];
      const phaseAt = async (): Promise<ProbePhaseName> => {
        const h = await holding();
        peak = Math.max(peak, memoryOf(gatewayPid).rssMiB);
        if (h >= streams && cliRssMiB === undefined) cliRssMiB = loadPids.reduce((n, pid) => n + memoryOf(pid).rssMiB, 0);
        if (h >= streams) openFrom ??= cpuNow();
        if (h < streams && openFrom && !coresWhileOpen) {
          const end = cpuNow();
          const secs = (end.at - openFrom.at) / 1000;
          coresWhileOpen = { cliServers: (end.cli - openFrom.cli) / secs, gateway: (end.gateway - openFrom.gateway) / secs };
        }
        openAtOnce = Math.max(openAtOnce, h);
        return h >= streams ? "open" : openAtOnce >= streams ? "closing" : "opening";
      };
      const watch = watchLoad(target.servers.slice(0, loadServers), target.adminUrls![0]!, () => loadDone);
      // A pause between pairs keeps the probe CLI's own work small beside the load.
      while (!loadDone) {
        await pair(phaseAt);
        await sleep(PROBE_PAUSE_MS);
      }
      const cpu = cpuSecondsOf(gatewayPid) - cpu0;
      const { cliPingMaxMs, gatewayLoopLagMaxMs } = await watch;
      const results = await outcomes;
      const lost = results.filter((r, i) => {
        const m = parseMarker(r.content);
        return !r.done || !Number.isFinite(r.firstMs) || m?.turn !== 1 || m.prompt !== `s${i} [sleep:${holdMs}]`;
      }).length;
      const failures: Record<string, number> = {};
      for (const r of results) if (r.failure) failures[r.failure] = (failures[r.failure] ?? 0) + 1;
      const probes = (["idle", "opening", "open", "closing"] as const).map((p) => phaseSummary(p, pairs));
      return {
        concurrency: streams,
        modelDelayMs: holdMs,
        loadServers,
        openPerSecond,
        openAtOnce,
        probes,
        gatewayFirstDeltaMs: summarize(results.map((r) => r.firstMs).filter(Number.isFinite)),
        addedP50Ms: probes.find((p) => p.phase === "open")!.differenceMs.p50,
        lostStreams: lost,
        failures,
        gatewayRssMiB: { before: rssBefore, peak },
        gatewayCpuMsPerTurn: (cpu * 1000) / (streams + (k - probeTurnsBefore)),
        cliRssMiB,
        cliPingMaxMs,
        gatewayLoopLagMaxMs,
        coresWhileOpen,
      };
    } finally {
      await direct?.disconnect().catch(() => undefined);
      await client.forceStop().catch(() => undefined);
    }
  });
}
