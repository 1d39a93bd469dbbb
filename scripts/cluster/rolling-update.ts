/**
 * A rolling image change under load: `pulumi up` of a topology with two or more CLI servers with
 * the CLI image changed, while clients keep sending turns through the gateway. Measures
 * acknowledged turns lost (a session's next turn number must follow its last acknowledged one, since
 * the mock model answers `turn=<user messages in the history>`) and the longest time with no Ready
 * CLI pod.
 */
import { writeFileSync } from "node:fs";
import { mintToken } from "../../topology/tokens.js";
import { parseTarget, type TopologyName } from "../../topology/index.js";
import { stackNamespace } from "./deploy-check.js";
import { engineStack } from "./engine.js";
import { kubectl, namespaceLeftovers, podsReady, serviceAddress } from "./kube.js";

export interface RollingUpdateResult {
  topology: TopologyName;
  stack: string;
  sessions: number;
  turnsAcknowledged: number;
  requestsFailed: number;
  lostTurns: number;
  maxGapSeconds: number;
  updateSeconds: number;
  leftovers: string[];
  error?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function readyCliPods(namespace: string): number {
  const pods = JSON.parse(kubectl(["-n", namespace, "get", "pods", "-l", "app.kubernetes.io/component=cli-server", "-o", "json"])) as {
    items: { metadata: { deletionTimestamp?: string }; status: { conditions?: { type: string; status: string }[] } }[];
  };
  return pods.items.filter((p) => !p.metadata.deletionTimestamp && p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True")).length;
}

export async function rollingUpdate(topology: TopologyName, kubeconfig: string, images: { cli: string; gateway: string }, nextCli: string, logFile: string, log: (l: string) => void): Promise<RollingUpdateResult> {
  const stack = `local-${topology}`;
  const namespace = stackNamespace(stack);
  const result: RollingUpdateResult = { topology, stack, sessions: 6, turnsAcknowledged: 0, requestsFailed: 0, lostTurns: 0, maxGapSeconds: 0, updateSeconds: 0, leftovers: [] };
  const imagesKey = "copilot-scale-kit:images";
  const first = await engineStack(stack, kubeconfig, { [imagesKey]: JSON.stringify(images) });
  const quiet = () => undefined;
  const updateLog: string[] = [];
  try {
    const out = await first.up(quiet);
    podsReady(namespace, 240);
    const target = parseTarget(JSON.parse(String(out.target)));
    const base = `http://${serviceAddress(namespace, "copilot-gateway", 8080)}`;

    // Clients: one session each, turns one after another, each answer checked against the last.
    let running = true;
    const lastAcked: number[] = [];
    const client = async (i: number) => {
      const auth = { authorization: `Bearer ${await mintToken(target.auth, `rolling-${i}`)}`, "content-type": "application/json" };
      const created = await fetch(`${base}/v1/sessions`, { method: "POST", headers: auth, body: "{}" });
      if (created.status !== 201) throw new Error(`create session: ${created.status} ${await created.text()}`);
      const { sessionId } = (await created.json()) as { sessionId: string };
      lastAcked[i] = 0;
      const turn = async (k: number): Promise<number | undefined> => {
        const res = await fetch(`${base}/v1/sessions/${sessionId}/messages`, { method: "POST", headers: auth, body: JSON.stringify({ prompt: `r${i}-${k}` }), signal: AbortSignal.timeout(60_000) }).catch(() => undefined);
        if (!res || res.status !== 200) {
          result.requestsFailed++;
          return undefined;
        }
        const n = Number(/turn=(\d+)/.exec(((await res.json()) as { content: string }).content)?.[1]);
        if (!(n > lastAcked[i]!)) result.lostTurns++;
        lastAcked[i] = n;
        result.turnsAcknowledged++;
        return n;
      };
      for (let k = 1; running; k++) if ((await turn(k)) === undefined) await sleep(250);
      // One more turn once the update is over: it must follow the last acknowledged one.
      for (let tries = 0; tries < 20 && (await turn(-1)) === undefined; tries++) await sleep(1000);
    };

    let gapStart: number | undefined;
    let watching = true;
    let lastReady = -1;
    const watcher = (async () => {
      while (watching) {
        const ready = readyCliPods(namespace);
        if (ready !== lastReady) updateLog.push(`${new Date().toISOString()} ready CLI pods: ${(lastReady = ready)}`);
        if (ready === 0 && gapStart === undefined) gapStart = Date.now();
        if (ready > 0 && gapStart !== undefined) {
          result.maxGapSeconds = Math.max(result.maxGapSeconds, (Date.now() - gapStart) / 1000);
          gapStart = undefined;
        }
        await sleep(250);
      }
    })();
    const clients = Array.from({ length: result.sessions }, (_, i) => client(i));
    await sleep(3000);
    log(`[rolling] pulumi up --stack ${stack} with the CLI image ${nextCli}`);
    const t = Date.now();
    const second = await engineStack(stack, kubeconfig, { [imagesKey]: JSON.stringify({ ...images, cli: nextCli }) });
    await second.up((l) => updateLog.push(l));
    result.updateSeconds = Math.round((Date.now() - t) / 100) / 10;
    await sleep(5000);
    running = false;
    await Promise.all(clients);
    watching = false;
    await watcher;
    if (gapStart !== undefined) result.maxGapSeconds = Math.max(result.maxGapSeconds, (Date.now() - gapStart) / 1000);
  } catch (err) {
    result.error = (err as Error).message.split("\n").slice(0, 4).join("\n");
    log(`[rolling] FAILED: ${result.error}`);
  } finally {
    await first.destroy(quiet).catch((err: Error) => (result.error = `${result.error ?? ""}\ndestroy: ${err.message.split("\n")[0]}`.trim()));
    result.leftovers = namespaceLeftovers(namespace);
    writeFileSync(logFile, updateLog.join("\n"));
  }
  return result;
}
