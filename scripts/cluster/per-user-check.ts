/**
 * The per-user Pods of a deployed `isolated` stack, checked for real (issue 12's acceptance): 20
 * users with arbitrary ids get 20 Pods, each only theirs; a burst of one new user's first requests
 * on two gateway replicas makes one Pod; the cap answers 503 + Retry-After and leaks nothing; idle
 * Pods are culled, claims kept, and users come back with their history; no user id reaches an
 * object, a header, a metric or an info log line. Figures: first reply, return after a cull, Pods
 * and memory with the users active and culled.
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { request } from "node:https";
import { join } from "node:path";
import { CopilotClient, RuntimeConnection } from "@github/copilot-sdk";
import { paths } from "../../local/cluster/layout.js";
import { mintToken } from "../../topology/tokens.js";
import type { TargetDescriptor, TargetServer } from "../../topology/index.js";
import { setUserCredential } from "../user-credentials.js";
import { resolvesDns } from "./isolation-checks.js";
import { kubectl, serviceAddress } from "./kube.js";
import type { UserServerWatch } from "./user-servers.js";

export interface PerUserCheck {
  name: string;
  ok: boolean;
  detail: string;
}
export interface PerUserResult {
  checks: PerUserCheck[];
  figures: Record<string, number>;
}

interface Options {
  target: TargetDescriptor;
  gatewayNamespace: string;
  usersNamespace: string;
  watch: UserServerWatch;
  maxServers: number;
  idleSeconds: number;
  /** host:port of the model the users' Pods may reach. */
  modelAddress: string;
  log: (line: string) => void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length - 1) * p))]!;
const round = (x: number) => Math.round(x * 100) / 100;

/**
 * Working-set memory of the Pods in a namespace, from the kubelet's summary API (the API server's
 * node proxy refuses this node's address; the kubelet trusts the cluster CA's admin client).
 */
function podMemoryMiB(namespace: string): Promise<number> {
  const pki = (f: string) => readFileSync(join(paths.pki, f));
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: 10250, path: "/stats/summary", cert: pki("apiserver-kubelet-client.crt"), key: pki("apiserver-kubelet-client.key"), ca: pki("ca.crt") },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => {
          const summary = JSON.parse(body) as { pods: { podRef: { namespace: string }; memory?: { workingSetBytes?: number } }[] };
          resolve(summary.pods.filter((p) => p.podRef.namespace === namespace).reduce((sum, p) => sum + (p.memory?.workingSetBytes ?? 0), 0) / 2 ** 20);
        });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Why the server refused a ping with this token (undefined: it answered). */
async function refusal(server: TargetServer, connectionToken: string): Promise<string | undefined> {
  const client = new CopilotClient({ connection: RuntimeConnection.forUri(server.address, { connectionToken }) });
  try {
    await client.start();
    await client.ping("foreign token");
    return undefined;
  } catch (err) {
    return `${(err as Error).message} ${String((err as { code?: unknown }).code ?? "")}`;
  } finally {
    await client.forceStop().catch(() => undefined);
  }
}

/** Can a process in this Pod open a TCP connection to the address? (node is in the CLI image.) */
function opens(namespace: string, pod: string, address: string): boolean {
  const [host, port] = address.split(":");
  const js = `const s=require("net").connect({host:${JSON.stringify(host)},port:${Number(port)},timeout:3000});s.on("connect",()=>process.exit(0));s.on("timeout",()=>process.exit(1));s.on("error",()=>process.exit(1))`;
  try {
    kubectl(["-n", namespace, "exec", pod, "--", "node", "-e", js]);
    return true;
  } catch {
    return false;
  }
}

/** User ids nothing may echo: e-mail addresses, OIDC subjects, unicode. */
function userIds(n: number): string[] {
  const tag = randomBytes(3).toString("hex");
  const kinds = [(i: number) => `pat.${tag}.${i}@example.com`, (i: number) => `auth0|${tag}${i}`, (i: number) => `zoë-ünïcødé-${tag}-${i}`, (i: number) => `用户${tag}${i}`];
  return Array.from({ length: n }, (_, i) => kinds[i % kinds.length]!(i));
}

export async function perUserChecks(o: Options): Promise<PerUserResult> {
  const checks: PerUserCheck[] = [];
  const figures: Record<string, number> = {};
  const check = (name: string, ok: boolean, detail: string) => {
    checks.push({ name, ok, detail });
    o.log(`  ${ok ? "ok  " : "FAIL"} ${name}: ${detail}`);
  };
  const seenHeaders: string[] = [];
  const call = async (user: string, method: string, path: string, body?: unknown, gateway = 0) => {
    const res = await fetch(`${o.target.gatewayUrls[gateway % o.target.gatewayUrls.length]}${path}`, {
      method,
      headers: { authorization: `Bearer ${await mintToken(o.target.auth, user)}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    seenHeaders.push(JSON.stringify([...res.headers]));
    return { status: res.status, headers: res.headers, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
  };
  const pods = () => JSON.parse(kubectl(["-n", o.usersNamespace, "get", "pods", "-o", "json"])).items as { metadata: { name: string; labels: Record<string, string> }; status: { phase: string } }[];
  const claims = () => kubectl(["-n", o.usersNamespace, "get", "pvc", "-o", "name"]).split("\n").filter(Boolean);
  const memoryMiB = () => podMemoryMiB(o.usersNamespace);
  const waitNoPods = async (what: string) => {
    const t0 = Date.now();
    while (pods().length > 0 && Date.now() - t0 < (o.idleSeconds + 90) * 1000) await sleep(1_000);
    return { gone: pods().length === 0, seconds: (Date.now() - t0) / 1000, what };
  };

  // The suite's own users are culled first, so every Pod below belongs to a user of this check.
  await waitNoPods("conformance users culled");
  const users = userIds(o.maxServers + 1);
  const twenty = users.slice(0, 20);
  // The first user gets a GitHub token of their own (the operator's step, scripts/user-credentials.ts).
  const ownToken = `ghu_kit_${randomBytes(12).toString("hex")}`;
  await setUserCredential({ user: twenty[0]!, githubToken: ownToken, namespace: o.gatewayNamespace, usersNamespace: o.usersNamespace, kubeconfig: paths.kubeconfig });

  o.log("  20 users, five at a time: first request to first reply");
  const sessions = new Map<string, string>();
  const servers = new Map<string, string>();
  const firstReply: number[] = [];
  const firstTurn = async (u: string, i: number) => {
    const t0 = Date.now();
    const created = await call(u, "POST", "/v1/sessions", {}, i);
    const sessionId = String(created.body.sessionId);
    const reply = await call(u, "POST", `/v1/sessions/${sessionId}/messages`, { prompt: "first turn" }, i);
    firstReply.push((Date.now() - t0) / 1000);
    if (created.status !== 201 || reply.status !== 200) check(`user ${i + 1}: first turn`, false, `create ${created.status}, message ${reply.status}: ${JSON.stringify(reply.body).slice(0, 200)}`);
    sessions.set(u, sessionId);
    servers.set(u, reply.headers.get("x-copilot-server") ?? "");
  };
  // Users already served keep chatting (an ephemeral turn every 5 s on their own server), so none is
  // culled before the cull step and their sessions' turn counts stay as they are.
  let warm = true;
  const keepWarm = (async () => {
    while (warm) {
      await Promise.all([...sessions.keys()].map((u, i) => call(u, "POST", "/v1/chat", { prompt: "still here" }, i).catch(() => undefined)));
      await sleep(5_000);
    }
  })();
  for (let i = 0; i < twenty.length; i += 5) await Promise.all(twenty.slice(i, i + 5).map((u, j) => firstTurn(u, i + j)));
  figures.firstReplyP50Seconds = round(pct(firstReply, 0.5));
  figures.firstReplyMaxSeconds = round(Math.max(...firstReply));
  const running = pods();
  const ids = new Set(running.map((p) => p.metadata.labels["copilot-scale-kit.io/server-id"]));
  check(
    "20 users, 20 Pods, each only theirs",
    running.length === 20 && ids.size === 20 && twenty.every((u) => ids.has(servers.get(u)!)) && new Set(servers.values()).size === 20,
    `${running.length} Pods, ${ids.size} server ids, ${new Set(servers.values()).size} distinct servers in the users' replies`,
  );
  figures.activePods = running.length;
  figures.activeMemoryMiB = Math.round(await memoryMiB());

  const listed: TargetServer[] = await o.watch.servers();
  let refused = 0;
  for (const [i, s] of listed.entries()) {
    const other = listed[(i + 1) % listed.length]!;
    if ((await refusal(s, other.connectionToken))?.includes("AUTHENTICATION_FAILED")) refused++;
  }
  check("each CLI refuses another user's connection token", listed.length === 20 && refused === 20, `${refused} of ${listed.length} refused`);

  const envIn = (u: string) => {
    try {
      return kubectl(["-n", o.usersNamespace, "exec", `copilot-u-${servers.get(u)}`, "--", "printenv", "COPILOT_GITHUB_TOKEN"]).trim();
    } catch {
      return "";
    }
  };
  const tokens = twenty.slice(0, 3).map(envIn);
  check(
    "a user's own GitHub token reaches their CLI only",
    tokens[0] === ownToken && tokens.slice(1).every((t) => t === ""),
    `user 1's CLI ${tokens[0] === ownToken ? "has" : "lacks"} their token; users 2-3 have ${tokens.slice(1).map((t) => (t ? "a token" : "none")).join(", ")} (no shared credential)`,
  );

  // Network isolation, with the model as the positive control.
  const [a, b] = running.map((p) => p.metadata.name);
  const ip = (name: string) => kubectl(["-n", o.usersNamespace, "get", "pod", name, "-o", "jsonpath={.status.podIP}"]).trim();
  const reach = {
    dns: resolvesDns(o.usersNamespace, a!),
    model: opens(o.usersNamespace, a!, o.modelAddress),
    otherUser: opens(o.usersNamespace, a!, `${ip(b!)}:4321`),
    redis: opens(o.usersNamespace, a!, serviceAddress(o.gatewayNamespace, "copilot-redis", 6379)),
    apiServer: opens(o.usersNamespace, a!, "10.96.0.1:443"),
  };
  check(
    "a user's Pod reaches DNS and the model, not another user's Pod, Redis or the API server",
    reach.dns && reach.model && !reach.otherUser && !reach.redis && !reach.apiServer,
    Object.entries(reach).map(([k, v]) => `${k} ${v ? "open" : "closed"}`).join(", "),
  );

  o.log("  a burst of one new user's first requests on both gateway replicas");
  const burstUser = users[20]!;
  const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => call(burstUser, "POST", "/v1/sessions", {}, i)));
  const burstServer = burst[0]!.headers.get("x-copilot-server");
  const burstPods = pods().filter((p) => p.metadata.labels["copilot-scale-kit.io/server-id"] === burstServer);
  const created = kubectl(["-n", o.gatewayNamespace, "logs", "-l", "app.kubernetes.io/component=gateway", "--tail=-1", "--prefix"])
    .split("\n")
    .filter((l) => l.includes("per-user Pod created") && burstServer && l.includes(burstServer));
  check(
    "two replicas, one user's burst: one Pod",
    burst.every((r) => r.status === 201) && burstPods.length === 1 && created.length === 1 && o.target.gatewayUrls.length >= 2,
    `${burst.filter((r) => r.status === 201).length}/10 created over ${o.target.gatewayUrls.length} replicas, ${burstPods.length} Pod, ${created.length} create logged`,
  );

  o.log(`  the cap (${o.maxServers})`);
  for (const u of users.slice(21, o.maxServers)) await call(u, "POST", "/v1/sessions", {});
  const over = await call(`over-the-cap-${randomBytes(3).toString("hex")}@example.com`, "POST", "/v1/sessions", {});
  await sleep(2_000);
  const afterCap = pods();
  check(
    `user ${o.maxServers + 1} gets 503 server_capacity with Retry-After, and no Pod`,
    over.status === 503 && (over.body.error as { code?: string } | undefined)?.code === "server_capacity" && Number(over.headers.get("retry-after")) > 0 && afterCap.length === o.maxServers && afterCap.every((p) => p.status.phase === "Running"),
    `${over.status} ${String((over.body.error as { code?: string } | undefined)?.code)}, Retry-After ${over.headers.get("retry-after")}, ${afterCap.length} Pods (${afterCap.filter((p) => p.status.phase !== "Running").length} not running)`,
  );

  o.log(`  culling: no request for ${o.idleSeconds} s`);
  warm = false;
  await keepWarm;
  const culled = await waitNoPods("idle users culled");
  figures.cullSeconds = round(culled.seconds);
  const claimNames = new Set(claims());
  const ours = [...new Set([...servers.values(), burstServer])].filter(Boolean);
  const keptClaims = ours.filter((id) => claimNames.has(`persistentvolumeclaim/copilot-u-${id}-state`)).length;
  // The timeout, plus how far a replica's last-used note may lag (a quarter of it), the last
  // keep-warm round before the clock starts (5 s), the cull check's interval (5 s) and the Pods'
  // deletion (5 s grace, then the kubelet).
  const bound = o.idleSeconds * 1.25 + 5 + 5 + 15;
  check(
    "idle Pods culled within the timeout and the check interval, claims kept",
    culled.gone && culled.seconds <= bound && keptClaims === ours.length,
    `no Pod ${culled.gone ? "after" : "still, after"} ${round(culled.seconds)} s (idle ${o.idleSeconds} s, bound ${bound} s); ${keptClaims} of ${ours.length} users' claims kept`,
  );
  figures.culledPods = pods().length;
  figures.culledMemoryMiB = Math.round(await memoryMiB());
  figures.claims = keptClaims;

  const back: number[] = [];
  let intact = 0;
  for (const [i, u] of twenty.slice(0, 5).entries()) {
    const t0 = Date.now();
    const r = await call(u, "POST", `/v1/sessions/${sessions.get(u)}/messages`, { prompt: "back after the cull" }, i);
    back.push((Date.now() - t0) / 1000);
    if (r.status === 200 && /turn=2 prompt=/.test(String(r.body.content)) && r.headers.get("x-copilot-server") === servers.get(u)) intact++;
  }
  figures.returnP50Seconds = round(pct(back, 0.5));
  figures.returnMaxSeconds = round(Math.max(...back));
  check("returning users get their server back with their history", intact === 5, `${intact}/5 answered turn 2 on their own server id`);

  const objects = kubectl(["get", "pods,pvc,secrets,networkpolicies,serviceaccounts,roles,rolebindings,resourcequotas", "-A", "-o", "json"]);
  const logs = kubectl(["-n", o.gatewayNamespace, "logs", "-l", "app.kubernetes.io/component=gateway", "--tail=-1"]);
  const metrics = (await Promise.all((o.target.adminUrls ?? []).map(async (u) => (await fetch(`${u}/metrics`)).text()))).join("\n");
  const haystacks = { objects, headers: seenHeaders.join("\n"), metrics, "info logs": logs };
  const leaks = Object.entries(haystacks).flatMap(([where, text]) =>
    [...users, burstUser].filter((u) => text.includes(u) || text.includes(encodeURIComponent(u)) || text.includes(JSON.stringify(u).slice(1, -1))).map((u) => `${where}: ${u}`),
  );
  check("no user id in any object, header, metric or info log line", leaks.length === 0 && logs.length > 0, leaks.length ? leaks.slice(0, 5).join("; ") : `${users.length} ids searched in ${Object.keys(haystacks).join(", ")}`);
  return { checks, figures };
}
