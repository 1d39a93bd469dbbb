/**
 * Builds the load config a k6 run reads: gateway URLs, one token per distinct user minted from
 * the target's auth, room names, server ids and the profile parameters. The local runner writes it
 * to a file; the LoadTest component puts it in a Kubernetes Secret. It carries bearer tokens, so
 * it is a secret either way.
 */
import { randomBytes } from "node:crypto";
import type { TargetDescriptor } from "../../topology/index.js";
import { mintToken } from "../../topology/tokens.js";
import { SCENARIOS, type ProfileName, type ScenarioName } from "./scenarios.js";

export const LOAD_CONFIG_VERSION = 1;
/** Env var (k6 `__ENV`) holding the path of the load config JSON. */
export const LOAD_CONFIG_ENV = "LOAD_CONFIG";
/** Env var holding the folder handleSummary writes summary.json and junit.xml to. */
export const REPORT_DIR_ENV = "LOAD_REPORT_DIR";

export interface LoadUser {
  id: string;
  token: string;
}

export interface LoadConfig {
  version: typeof LOAD_CONFIG_VERSION;
  scenario: ScenarioName;
  profile: ProfileName;
  runId: string;
  topology: TargetDescriptor["topology"];
  gatewayUrls: string[];
  /** The gateways' admin listeners (/metrics), when the target lists them and gatewayUrls were not replaced. */
  adminUrls: string[];
  users: LoadUser[];
  /** True when the target had fewer static tokens than the scenario wants users, so users repeat. */
  usersRepeat: boolean;
  rooms: string[];
  servers: string[];
  /** The target's lifecycle settings (chat-ramp pauses past a short idle timeout to force resumes). */
  settings: TargetDescriptor["settings"];
  params: Readonly<Record<string, unknown>>;
}

export interface BuildOptions {
  /** Names users, rooms and report files; fresh per run so old sessions and rooms never interfere. */
  runId?: string;
  /** Replace the target's gateway URLs (e.g. the in-cluster Service when the target lists an ingress). */
  gatewayUrls?: string[];
  /** Token lifetime; default: the profile's longest run plus one hour. */
  tokenTtlS?: number;
  /** Clock, for tests. */
  now?: () => number;
}

export function newRunId(): string {
  return randomBytes(4).toString("hex");
}

export async function buildLoadConfig(
  target: TargetDescriptor,
  scenarioName: ScenarioName,
  profile: ProfileName,
  opts: BuildOptions = {},
): Promise<LoadConfig> {
  const scenario = SCENARIOS[scenarioName];
  const resolved = scenario.resolve(profile);
  const runId = opts.runId ?? newRunId();
  if (!/^[a-z0-9-]{1,24}$/.test(runId)) {
    throw new Error(`runId ${JSON.stringify(runId)} must be 1-24 lowercase letters, digits or '-'`);
  }
  const rooms = Array.from({ length: resolved.rooms }, (_, i) => `load-${runId}-room${i}`);
  const auth = target.auth;
  let users: LoadUser[];
  let usersRepeat = false;
  if (auth.kind === "jwt-hs256") {
    const ttlSeconds = opts.tokenTtlS ?? resolved.maxDurationS + 3600;
    users = await Promise.all(
      Array.from({ length: resolved.users }, async (_, i) => {
        const id = `load-${runId}-u${i}`;
        return { id, token: await mintToken(auth, id, { rooms: rooms.length > 0 ? rooms : undefined, ttlSeconds, now: opts.now }) };
      }),
    );
  } else {
    // Static tokens cannot be minted: use every user the target has, repeating when short.
    users = Object.entries(auth.tokens).map(([id, token]) => ({ id, token }));
    if (users.length === 0) throw new Error("target auth.tokens is empty: add static tokens or use jwt-hs256 auth");
    usersRepeat = users.length < resolved.users;
    users = users.slice(0, resolved.users);
  }
  const gatewayUrls = (opts.gatewayUrls ?? target.gatewayUrls).map((u) => u.replace(/\/+$/, ""));
  if (gatewayUrls.length === 0) throw new Error("no gateway URL: the target lists none and none was given");
  return {
    version: LOAD_CONFIG_VERSION,
    scenario: scenarioName,
    profile,
    runId,
    topology: target.topology,
    gatewayUrls,
    adminUrls: opts.gatewayUrls ? [] : (target.adminUrls ?? []).map((u) => u.replace(/\/+$/, "")),
    users,
    usersRepeat,
    rooms,
    servers: target.servers.map((s) => s.id),
    settings: target.settings,
    params: resolved.params,
  };
}
