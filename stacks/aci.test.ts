/**
 * The ACI stacks, run end to end under Pulumi mocks with each stacks/Pulumi.aci-*.yaml file:
 * secrets only as wrapped secure values, COPILOT_HOME on Azure Files, probes, the share shared
 * exactly when the topology needs it, outputs without plaintext secrets, and the ACI limits refused.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { gatewayConfigSchema, parseTarget, TOPOLOGIES, type TopologyName } from "../topology/index.js";
import { CLI_PORT, CLI_PROBE_COMMAND, COPILOT_HOME_PATH, GATEWAY_STORE_FILE } from "../components/azure/contract.js";
import { type AciRun, MOCK_STORAGE_KEY, runAciStack, secretPlacementProblems, TEST_SECRETS } from "../testing/aci-mocks.js";
import { checkAzureResource, CONTAINER_GROUP } from "../components/policy/azure.js";
import type { CapturedResource } from "../testing/pulumi-mocks.js";
import { planServers } from "../components/azure/topology.js";
import { serverCount } from "./config.js";
import { aciStackSchema } from "./aci.js";

type Obj = Record<string, unknown>;
const groups = (run: AciRun) => run.resources.filter((r) => r.type === CONTAINER_GROUP);
const containers = (g: CapturedResource) => g.inputs.containers as Obj[];
const env = (c: Obj) => (c.environmentVariables ?? []) as Obj[];
const envNamed = (c: Obj, name: string) => env(c).find((e) => e.name === name);
const cliContainers = (run: AciRun) =>
  groups(run).flatMap((g) => containers(g).filter((c) => c.name === "copilot-cli").map((c) => ({ group: g, container: c })));
const gatewayGroup = (run: AciRun) => groups(run).find((g) => containers(g).some((c) => c.name === "gateway"))!;
const gatewayContainer = (run: AciRun) => containers(gatewayGroup(run)).find((c) => c.name === "gateway")!;
/** The share that holds a CLI's session state: mounted as COPILOT_HOME, or (shared-storage) as its session-state/. */
const shareOf = (group: CapturedResource, container: Obj) => {
  const mounts = container.volumeMounts as Obj[];
  const mount = mounts.find((m) => m.mountPath === `${COPILOT_HOME_PATH}/session-state`) ?? mounts.find((m) => m.mountPath === COPILOT_HOME_PATH)!;
  const volume = (group.inputs.volumes as Obj[]).find((v) => v.name === mount.name)!;
  return (volume.azureFile as Obj).shareName as string;
};

const STACKS: { file: string; topology: TopologyName; servers: number }[] = [
  { file: "Pulumi.aci-shared.yaml", topology: "shared", servers: 1 },
  { file: "Pulumi.aci-isolated.yaml", topology: "isolated", servers: 2 },
  { file: "Pulumi.aci-shared-storage.yaml", topology: "shared-storage", servers: 2 },
];

describe.each(STACKS)("$file", ({ file, topology, servers }) => {
  let run: AciRun;
  beforeAll(async () => {
    run = await runAciStack(file);
  });

  it("puts every secret only in a secure field, wrapped as a secret", () => {
    const problems = run.resources.flatMap((r) => secretPlacementProblems(r, run.leafSecretPaths.get(`${r.type}/${r.name}`) ?? [], run.secretValues));
    expect(problems).toEqual([]);
    // Not vacuous: every CLI token, the GitHub token and the storage key are among the secure fields.
    const secureValues = groups(run).flatMap((g) => containers(g).flatMap((c) => env(c).map((e) => e.secureValue).filter(Boolean)));
    for (const { container } of cliContainers(run)) expect(secureValues).toContain(envNamed(container, "COPILOT_CONNECTION_TOKEN")!.secureValue);
    expect(secureValues).toContain("ghp_mockGithubToken0123456789abcdef");
    const keys = groups(run).flatMap((g) => ((g.inputs.volumes ?? []) as Obj[]).filter((v) => v.azureFile).map((v) => (v.azureFile as Obj).storageAccountKey));
    expect(keys.length).toBeGreaterThan(0);
    expect(new Set(keys)).toEqual(new Set([MOCK_STORAGE_KEY]));
    for (const g of groups(run)) {
      const paths = run.leafSecretPaths.get(`${g.type}/${g.name}`)!;
      containers(g).forEach((c, i) =>
        env(c).forEach((e, j) => {
          if (e.secureValue !== undefined) expect(paths).toContain(`containers.${i}.environmentVariables.${j}.secureValue`);
        }),
      );
    }
  });

  it("mounts an Azure Files share at COPILOT_HOME (shared-storage: at its session-state/) in every CLI container", () => {
    const clis = cliContainers(run);
    expect(clis).toHaveLength(servers);
    for (const { group, container } of clis) {
      expect(envNamed(container, "COPILOT_HOME")).toEqual({ name: "COPILOT_HOME", value: COPILOT_HOME_PATH });
      expect(shareOf(group, container)).toMatch(/^copilot-/);
    }
  });

  it("probes the CLI with the protocol probe and the gateway over HTTP", () => {
    for (const { container } of cliContainers(run)) {
      for (const probe of ["livenessProbe", "readinessProbe"]) {
        expect((container[probe] as Obj).exec).toEqual({ command: [...CLI_PROBE_COMMAND] });
      }
    }
    const gw = gatewayContainer(run);
    // On the admin port, which no group exposes.
    expect((gw.readinessProbe as Obj).httpGet).toMatchObject({ path: "/readyz?backends=any", port: 9090 });
    expect((gw.livenessProbe as Obj).httpGet).toMatchObject({ path: "/healthz", port: 9090 });
  });

  it("shares the state share exactly when the topology needs it", () => {
    // Besides the CLIs' state: the gateway registry, Redis' append-only file and the ACME data, each on its own share.
    const OWN = new Set(["copilot-gateway", "copilot-redis", "copilot-tls-proxy"]);
    const shares = run.resources.filter((r) => r.type === "azure-native:storage:FileShare" && !OWN.has(r.inputs.shareName as string));
    const mounted = cliContainers(run).map(({ group, container }) => shareOf(group, container));
    if (TOPOLOGIES[topology].sharedState) {
      expect(shares).toHaveLength(1);
      expect(new Set(mounted).size).toBe(1);
    } else {
      expect(shares).toHaveLength(servers);
      expect(new Set(mounted).size).toBe(servers);
    }
    expect(new Set(mounted)).toEqual(new Set(shares.map((s) => s.inputs.shareName)));
  });

  it("stores state in an HTTPS-only, TLS 1.2 account", () => {
    const account = run.resources.find((r) => r.type === "azure-native:storage:StorageAccount")!;
    expect(account.inputs).toMatchObject({ enableHttpsTrafficOnly: true, minimumTlsVersion: "TLS1_2", allowBlobPublicAccess: false });
  });

  it("passes every Azure policy rule", () => {
    const violations = run.resources.flatMap((r) => checkAzureResource(r.type, r.inputs).map((v) => `${r.name}: ${v.rule}: ${v.message}`));
    expect(violations).toEqual([]);
  });

  it("wires the CLI addresses and token env vars into the gateway", () => {
    const gw = gatewayContainer(run);
    const config = gatewayConfigSchema.parse(JSON.parse(envNamed(gw, "GATEWAY_CONFIG")!.value as string));
    expect(config.topology).toBe(topology);
    expect(config.store).toBe(TOPOLOGIES[topology].requiresSharedStore ? "redis" : "memory");
    // A memory store keeps its registry on a share of its own, so a restarted gateway still knows the owners.
    const mounts = (gw.volumeMounts ?? []) as Obj[];
    if (config.store === "memory") {
      expect(config.storeFile).toBe(GATEWAY_STORE_FILE);
      const mount = mounts.find((m) => m.mountPath === "/var/lib/copilot-gateway")!;
      const volume = (gatewayGroup(run).inputs.volumes as Obj[]).find((v) => v.name === mount.name)!;
      expect((volume.azureFile as Obj).shareName).toBe("copilot-gateway");
    } else {
      expect(config.storeFile).toBeUndefined();
      expect(mounts).toEqual([]);
    }
    if (config.backends.kind !== "static") throw new Error("static backends expected");
    expect(config.backends.servers.map((s) => ({ id: s.id, address: s.address }))).toEqual(run.outputs.servers.value);
    for (const server of config.backends.servers) {
      const tokenEnv = envNamed(gw, server.tokenEnv);
      expect(tokenEnv?.secureValue).toBeDefined();
    }
    // Each backend token is the token of the CLI that answers at that address.
    const cliTokens = new Set(cliContainers(run).map(({ container }) => envNamed(container, "COPILOT_CONNECTION_TOKEN")!.secureValue));
    expect(new Set(config.backends.servers.map((s) => envNamed(gw, s.tokenEnv)!.secureValue))).toEqual(cliTokens);
  });

  it("exports outputs without plaintext secrets and a secret target descriptor", () => {
    const { gatewayUrl, servers: serverList, target } = run.outputs;
    expect(gatewayUrl.secret).toBe(false);
    expect(serverList.secret).toBe(false);
    expect(target.secret).toBe(true);
    const plain = JSON.stringify([gatewayUrl.value, serverList.value]);
    for (const secret of run.secretValues) expect(plain).not.toContain(secret);
    const descriptor = parseTarget(JSON.parse(target.value));
    expect(descriptor).toMatchObject({ platform: "aci", topology, gatewayUrls: [gatewayUrl.value] });
    expect(descriptor.servers.map(({ id, address }) => ({ id, address }))).toEqual(serverList.value);
    expect(descriptor.features).toEqual(expect.arrayContaining(["sessions", "readiness", "metrics"]));
    expect(descriptor.features).not.toContain("sticky-routing");
    for (const s of descriptor.servers) expect(run.secretValues).toContain(s.connectionToken);
    // The settings the suite relies on: the stack files' values (lifecycle defaults where a file
    // sets none), written out here rather than derived by targetSettings, the function under test.
    expect(descriptor.settings).toEqual({
      idleTimeoutSeconds: 1800,
      sessionTtlSeconds: 7 * 24 * 3600,
      lockTtlSeconds: 30,
      lockWaitSeconds: 30,
      maxSessionsPerServer: 200,
      cliIdleTimeoutSeconds: 0,
      bodyLimitBytes: 256 * 1024,
      rateLimitPerMinute: 0,
    });
    // ... and they are the ones the gateway actually runs with, each found by name in its config.
    const config = gatewayConfigSchema.parse(JSON.parse(envNamed(gatewayContainer(run), "GATEWAY_CONFIG")!.value as string));
    const running: Record<string, unknown> = { ...config.lifecycle, ...config.http };
    for (const [key, value] of Object.entries(descriptor.settings)) expect(running[key], key).toBe(value);
  });
});

describe("ACI network placement", () => {
  it("shared runs the CLI beside the gateway, behind the TLS proxy: only 443 and 80 (ACME) are public, the gateway listens on loopback", async () => {
    const run = await runAciStack("Pulumi.aci-shared.yaml");
    expect(groups(run)).toHaveLength(1);
    const ip = gatewayGroup(run).inputs.ipAddress as Obj;
    expect(ip).toMatchObject({ type: "Public", ports: [{ port: 443, protocol: "TCP" }, { port: 80, protocol: "TCP" }], dnsNameLabel: "copilot-aci-shared" });
    expect(containers(gatewayGroup(run)).map((c) => c.name)).toEqual(["gateway", "tls-proxy", "copilot-cli"]);
    const config = gatewayConfigSchema.parse(JSON.parse(envNamed(gatewayContainer(run), "GATEWAY_CONFIG")!.value as string));
    expect([config.host, config.port, config.admin]).toEqual(["127.0.0.1", 8080, { host: "0.0.0.0", port: 9090 }]);
    // Caddy's ACME account and certificates survive a restart on a share of their own.
    const proxy = containers(gatewayGroup(run)).find((c) => c.name === "tls-proxy")!;
    const dataMount = (proxy.volumeMounts as Obj[]).find((m) => m.mountPath === "/data")!;
    const volume = (gatewayGroup(run).inputs.volumes as Obj[]).find((v) => v.name === dataMount.name)!;
    expect((volume.azureFile as Obj).shareName).toBe("copilot-tls-proxy");
    expect(run.outputs.servers.value).toEqual([{ id: "cli-0", address: `127.0.0.1:${CLI_PORT}` }]);
    expect(run.outputs.gatewayUrl.value).toMatch(/^https:\/\/copilot-aci-shared\.[0-9a-f]+\.westeurope\.azurecontainer\.io$/);
  });


  it("vnet puts every group on a private IP in the delegated subnet the stack creates", async () => {
    const run = await runAciStack("Pulumi.aci-isolated.yaml");
    const subnet = run.resources.find((r) => r.type === "azure-native:network:Subnet")!;
    expect(subnet.inputs.delegations).toEqual([{ name: "aci", serviceName: "Microsoft.ContainerInstance/containerGroups" }]);
    for (const g of groups(run)) {
      expect(g.inputs.ipAddress).toMatchObject({ type: "Private" });
      expect((g.inputs.ipAddress as Obj).dnsNameLabel).toBeUndefined();
      expect(g.inputs.subnetIds).toEqual([{ id: "copilot-net-aci-id" }]);
    }
    expect(run.outputs.servers.value.map((s) => s.address)).toEqual(run.outputs.servers.value.map(() => expect.stringMatching(/^10\.42\.0\.\d+:4321$/)));
    // TLS ends in the gateway's group with the given certificate for the given name.
    expect(run.outputs.gatewayUrl.value).toBe("https://copilot.internal.example.com");
    expect((gatewayGroup(run).inputs.ipAddress as Obj).ports).toEqual([{ port: 443, protocol: "TCP" }]);
  });

  it("isolated routes each tenant to its own server, with its own GitHub token when given", async () => {
    const run = await runAciStack("Pulumi.aci-isolated.yaml", {
      secrets: { tlsCertificate: TEST_SECRETS.tlsCertificate, tlsPrivateKey: TEST_SECRETS.tlsPrivateKey, secretSeed: TEST_SECRETS.secretSeed!, githubToken: "ghp_sharedFallbackToken0123456789", registryPassword: "mock-registry-password-0123456789", tenantGithubTokens: { alice: "ghp_aliceOwnToken0123456789abcd" } },
    });
    const target = parseTarget(JSON.parse(run.outputs.target.value));
    expect(target.servers.map((s) => [s.id, s.user])).toEqual([["user-alice", "alice"], ["user-bob", "bob"]]);
    const tokenOf = (user: string) =>
      envNamed(cliContainers(run).find(({ group }) => group.name === `cli-user-${user}`)!.container, "COPILOT_GITHUB_TOKEN")!.secureValue;
    expect(tokenOf("alice")).toBe("ghp_aliceOwnToken0123456789abcd");
    expect(tokenOf("bob")).toBe("ghp_sharedFallbackToken0123456789");
    const shares = run.resources.filter((r) => r.type === "azure-native:storage:FileShare").map((r) => [r.inputs.shareName, r.inputs.shareQuota]);
    expect(shares).toEqual([["copilot-user-alice", 50], ["copilot-user-bob", 20], ["copilot-gateway", 1]]);
    expect(parseTarget(JSON.parse(run.outputs.target.value)).gatewayUrls).toEqual(["https://copilot.internal.example.com"]);
  });

  it("shared-storage holds sessions and leases in a loopback Redis sidecar that keeps them across a restart (AOF on a share), or an external Redis when configured", async () => {
    const run = await runAciStack("Pulumi.aci-shared-storage.yaml");
    const redis = containers(gatewayGroup(run)).find((c) => c.name === "redis")!;
    expect(redis.command).toEqual(expect.arrayContaining(["--bind", "127.0.0.1"]));
    expect((redis.command as string[]).join(" ")).toMatch(/--appendonly yes --appendfsync everysec --dir \/var\/lib\/redis-aof/);
    const mount = (redis.volumeMounts as Obj[]).find((m) => m.mountPath === "/var/lib/redis-aof")!;
    const volume = (gatewayGroup(run).inputs.volumes as Obj[]).find((v) => v.name === mount.name)!;
    expect((volume.azureFile as Obj).shareName).toBe("copilot-redis");
    expect(envNamed(gatewayContainer(run), "GATEWAY_REDIS_URL")).toEqual({ name: "GATEWAY_REDIS_URL", secureValue: "redis://127.0.0.1:6379" });
    expect((gatewayGroup(run).inputs.ipAddress as Obj).ports).toEqual([{ port: 443, protocol: "TCP" }]);

    const external = "rediss://:mockAzureCacheKey0123456789@copilot.redis.cache.windows.net:6380";
    const ext = await runAciStack("Pulumi.aci-shared-storage.yaml", {
      patch: (c) => void (c.redis = { external: true }),
      secrets: { tlsCertificate: TEST_SECRETS.tlsCertificate, tlsPrivateKey: TEST_SECRETS.tlsPrivateKey, secretSeed: TEST_SECRETS.secretSeed!, githubToken: "ghp_mockGithubToken0123456789abcdef", registryPassword: "mock-registry-password-0123456789", redisUrl: external },
    });
    expect(containers(gatewayGroup(ext)).map((c) => c.name)).toEqual(["gateway", "tls-proxy"]);
    expect(envNamed(gatewayContainer(ext), "GATEWAY_REDIS_URL")!.secureValue).toBe(external);
    expect(ext.resources.flatMap((r) => secretPlacementProblems(r, ext.leafSecretPaths.get(`${r.type}/${r.name}`) ?? [], ext.secretValues))).toEqual([]);
  });
});

describe("mutations of the captured objects are caught", () => {
  let run: AciRun;
  beforeAll(async () => {
    run = await runAciStack("Pulumi.aci-shared-storage.yaml");
  });
  const cliGroup = () => structuredClone(groups(run).find((g) => g.name === "cli-cli-0")!);
  const leafPaths = (g: CapturedResource) => run.leafSecretPaths.get(`${g.type}/${g.name}`)!;

  it("a secureValue turned into a plain value", () => {
    const g = cliGroup();
    expect(secretPlacementProblems(g, leafPaths(g), run.secretValues)).toEqual([]);
    const token = envNamed(containers(g)[0]!, "COPILOT_CONNECTION_TOKEN")!;
    token.value = token.secureValue;
    delete token.secureValue;
    expect(secretPlacementProblems(g, leafPaths(g), run.secretValues)).toEqual([expect.stringMatching(/a secret sits in containers\.0\.environmentVariables\.\d+\.value/)]);
    expect(checkAzureResource(g.type, g.inputs).map((v) => v.rule)).toContain("aci-secrets-as-secure-values");
  });

  it("a secureValue that did not arrive as a secret", () => {
    const g = cliGroup();
    const paths = leafPaths(g).filter((p) => !p.endsWith(".secureValue"));
    expect(secretPlacementProblems(g, paths, run.secretValues)).toEqual(
      expect.arrayContaining([expect.stringMatching(/environmentVariables\.\d+\.secureValue did not arrive wrapped/)]),
    );
  });

  it("a removed probe", () => {
    for (const probe of ["livenessProbe", "readinessProbe"]) {
      const g = cliGroup();
      delete containers(g)[0]![probe];
      expect(checkAzureResource(g.type, g.inputs).map((v) => v.rule)).toEqual(["aci-probes", "aci-cli-protocol-probe"]);
    }
  });

  it("a CLI probe downgraded to HTTP, and COPILOT_HOME off the share", () => {
    const g = cliGroup();
    containers(g)[0]!.livenessProbe = { httpGet: { port: CLI_PORT, path: "/" } };
    (containers(g)[0]!.volumeMounts as Obj[])[0]!.mountPath = "/tmp/home";
    expect(checkAzureResource(g.type, g.inputs).map((v) => v.rule)).toEqual(["aci-cli-protocol-probe", "aci-copilot-home-on-azure-files"]);
  });

  it("shared-storage session-state/ moved off the share (onto the group's own volume)", () => {
    const g = cliGroup();
    const mounts = containers(g)[0]!.volumeMounts as Obj[];
    expect(mounts.map((m) => m.mountPath)).toEqual([COPILOT_HOME_PATH, `${COPILOT_HOME_PATH}/session-state`]);
    mounts[1]!.name = mounts[0]!.name;
    expect(checkAzureResource(g.type, g.inputs).map((v) => v.rule)).toEqual(["aci-copilot-home-on-azure-files"]);
  });

  it("the storage account loses HTTPS-only or TLS 1.2", () => {
    const account = structuredClone(run.resources.find((r) => r.type === "azure-native:storage:StorageAccount")!);
    account.inputs.enableHttpsTrafficOnly = false;
    account.inputs.minimumTlsVersion = "TLS1_0";
    expect(checkAzureResource(account.type, account.inputs).map((v) => v.message)).toEqual([
      "enableHttpsTrafficOnly must be true",
      "minimumTlsVersion must be TLS1_2 or newer (is TLS1_0)",
    ]);
  });
});

describe("ACI limits are refused with the fix", () => {
  const fails = (patch: (c: Record<string, unknown>) => void, secrets?: Record<string, unknown>) =>
    runAciStack("Pulumi.aci-shared.yaml", { patch, ...(secrets ? { secrets } : {}) });

  it("sticky names Container Apps and Application Gateway", async () => {
    await expect(fails((c) => void (c.topology = "sticky"))).rejects.toThrow(/copilot-scale-kit:topology: sticky is not offered on ACI: .*Container Apps.*Application Gateway/);
  });

  it("collaborative is not offered on ACI", async () => {
    await expect(fails((c) => void (c.topology = "collaborative"))).rejects.toThrow(/topology: collaborative is not offered on ACI/);
  });

  it("several gateway replicas need a load balancer ACI does not have", async () => {
    await expect(fails((c) => void (c.gateway = { replicas: 2 }))).rejects.toThrow(/gateway\.replicas: ACI runs exactly one gateway group.*fix: set gateway\.replicas/);
  });

  it("separate CLI groups on public IPs need an explicit acknowledgement", async () => {
    await expect(
      runAciStack("Pulumi.aci-shared-storage.yaml", { patch: (c) => void ((c.aci as { network: Obj }).network = { mode: "public" }) }),
    ).rejects.toThrow(/aci\.network\.mode: shared-storage runs CLI servers in their own groups.*mode: vnet.*exposeCliPublicly/);
  });

  it("isolated without tenants", async () => {
    await expect(fails((c) => void ((c.topology = "isolated"), (c.tenants = [])))).rejects.toThrow(/tenants: isolated on ACI needs static tenants/);
  });

  it("no model access", async () => {
    await expect(fails(() => undefined, { registryPassword: "mock-registry-password-0123456789" })).rejects.toThrow(
      /no model access: set copilot-scale-kit:githubToken .*pulumi config set --secret copilot-scale-kit:githubToken/,
    );
  });

  it("a registry pull identity the groups do not carry", async () => {
    await expect(
      fails((c) => void ((c.aci as Obj).registry = { server: "acr.example.io", identityId: "/identities/pull" })),
    ).rejects.toThrow(/aci\.registry\.identityId: ACI pulls with an identity only when the group carries it/);
  });

  it("an unknown key", async () => {
    await expect(fails((c) => void (c.acii = {}))).rejects.toThrow(/unknown stack config copilot-scale-kit:acii/);
  });
});

describe("pure planning", () => {
  /** The stack's mapping of its config to the component's planning arguments. */
  const cfg = (over: Record<string, unknown>) => {
    const c = aciStackSchema.parse({ platform: "aci", images: { cli: "c:1", gateway: "g:1" }, aci: { location: "westeurope", network: { mode: "vnet" }, tls: { mode: "none" } }, ...over });
    return { topology: c.topology, servers: serverCount(c), tenants: c.tenants, storage: c.aci.storage };
  };

  it("plans one share per server unless the topology shares state", () => {
    expect(planServers(cfg({ topology: "shared-storage", servers: 3 })).shares).toEqual([{ id: "shared", quotaGi: 100 }]);
    expect(planServers(cfg({ topology: "shared-storage", servers: 3 })).servers.map((s) => s.shareId)).toEqual(["shared", "shared", "shared"]);
    expect(planServers(cfg({ topology: "shared" })).shares).toEqual([{ id: "cli-0", quotaGi: 100 }]);
  });

  it("refuses a Premium share under 100 GiB before creating anything", () => {
    const parsed = aciStackSchema.safeParse({
      platform: "aci",
      topology: "shared",
      images: { cli: "c:1", gateway: "g:1" },
      aci: { location: "westeurope", storage: { sku: "Premium_LRS", shareQuotaGi: 50 } },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error!.issues.map((i) => [i.path.join("."), i.message])).toEqual([["aci.storage.shareQuotaGi", "Premium file shares need at least 100 GiB each"]]);
  });
});
