/**
 * Policy rules for the Azure objects of the kit (ACI container groups, storage for session state),
 * after CrossGuard: each rule is a pure function from a resource's inputs to violation messages, so
 * the same rule runs in unit tests on mock-captured inputs and in the PolicyPack (`azurePolicies`).
 * Inputs are plain values here, as CrossGuard hands them over (secrets already unwrapped).
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { CLI_PORT, CLI_PROBE_COMMAND, COPILOT_HOME_ENV, isSecretEnvName } from "../azure/contract.js";
import { GATEWAY_CONFIG_ENV } from "../../topology/index.js";

export const CONTAINER_GROUP = "azure-native:containerinstance:ContainerGroup";
export const STORAGE_ACCOUNT = "azure-native:storage:StorageAccount";
export const FILE_SHARE = "azure-native:storage:FileShare";
/** Tag a group carries when the stack config explicitly accepted a public CLI port. */
export const PUBLIC_CLI_TAG = "copilot-scale-kit/public-cli";

export interface AzurePolicyRule {
  name: string;
  description: string;
  enforcementLevel: "advisory" | "mandatory";
  resourceType: string;
  check(props: Record<string, unknown>): string[];
}

export interface AzureViolation {
  rule: string;
  enforcementLevel: AzurePolicyRule["enforcementLevel"];
  message: string;
}

type Obj = Record<string, unknown>;
const asObj = (v: unknown): Obj => (typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Obj) : {});
const asArr = (v: unknown): Obj[] => (Array.isArray(v) ? v.map(asObj) : []);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

function containersOf(props: Obj): Obj[] {
  return [...asArr(props.containers), ...asArr(props.initContainers)];
}
const envOf = (c: Obj): Obj[] => asArr(c.environmentVariables);
const envValue = (c: Obj, name: string): Obj | undefined => envOf(c).find((e) => e.name === name);

function probeProblem(probe: unknown): string | undefined {
  if (probe === undefined || probe === null) return "missing";
  const p = asObj(probe);
  const exec = asObj(p.exec);
  const command = Array.isArray(exec.command) ? exec.command : [];
  const httpPort = asObj(p.httpGet).port;
  if (command.length === 0 && typeof httpPort !== "number") return "has neither an exec command nor an httpGet port";
  return undefined;
}

/** Containers that are the CLI server: they expose the CLI port or set COPILOT_HOME. */
function isCliContainer(c: Obj): boolean {
  return asArr(c.ports).some((p) => p.port === CLI_PORT) || envValue(c, COPILOT_HOME_ENV) !== undefined;
}

const SECRET_KEY_IN_CONFIG = /secret|password|apikey|api_key|token(?!env)|redisurl/i;

function secretKeysIn(value: unknown, path = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((v, i) => secretKeysIn(v, `${path}[${i}]`));
  if (typeof value !== "object" || value === null) return [];
  return Object.entries(value).flatMap(([k, v]) => [
    // A number or a boolean cannot hold a secret (auth.maxTokenLifetimeSeconds is a setting).
    ...(SECRET_KEY_IN_CONFIG.test(k) && typeof v !== "number" && typeof v !== "boolean" ? [`${path}${path ? "." : ""}${k}`] : []),
    ...secretKeysIn(v, `${path}${path ? "." : ""}${k}`),
  ]);
}

export const azureRules: AzurePolicyRule[] = [
  {
    name: "aci-secrets-as-secure-values",
    description: "Tokens, keys and passwords reach ACI containers only as secureValue, never as a plain value.",
    enforcementLevel: "mandatory",
    resourceType: CONTAINER_GROUP,
    check: (props) =>
      containersOf(props).flatMap((c) =>
        envOf(c)
          .filter((e) => isSecretEnvName(str(e.name) ?? ""))
          .flatMap((e) => {
            const where = `container ${str(c.name)} env ${str(e.name)}`;
            if (e.value !== undefined) return [`${where} is a plain value; use secureValue`];
            if (e.secureValue === undefined && e.secureValueReference === undefined) return [`${where} has no secureValue`];
            return [];
          }),
      ),
  },
  {
    name: "aci-gateway-config-without-secrets",
    description: "GATEWAY_CONFIG is non-secret JSON: secrets travel in their own secure env vars.",
    enforcementLevel: "mandatory",
    resourceType: CONTAINER_GROUP,
    check: (props) =>
      containersOf(props).flatMap((c) => {
        const env = envValue(c, GATEWAY_CONFIG_ENV);
        if (!env) return [];
        const where = `container ${str(c.name)} ${GATEWAY_CONFIG_ENV}`;
        if (env.secureValue !== undefined) return [`${where} must be a plain value (it is not secret; secrets go in their own env vars)`];
        let parsed: unknown;
        try {
          parsed = JSON.parse(str(env.value) ?? "");
        } catch {
          return [`${where} is not JSON`];
        }
        return secretKeysIn(parsed).map((key) => `${where} holds a secret-looking key ${key}`);
      }),
  },
  {
    name: "aci-probes",
    description: "Every container has a liveness and a readiness probe.",
    enforcementLevel: "mandatory",
    resourceType: CONTAINER_GROUP,
    check: (props) =>
      asArr(props.containers).flatMap((c) =>
        (["livenessProbe", "readinessProbe"] as const).flatMap((kind) => {
          const problem = probeProblem(c[kind]);
          return problem ? [`container ${str(c.name)} ${kind} ${problem}`] : [];
        }),
      ),
  },
  {
    name: "aci-cli-protocol-probe",
    description: "The CLI speaks raw TCP: its probes run the protocol probe (copilot-probe), not a TCP or HTTP check.",
    enforcementLevel: "mandatory",
    resourceType: CONTAINER_GROUP,
    check: (props) =>
      asArr(props.containers)
        .filter(isCliContainer)
        .flatMap((c) =>
          (["livenessProbe", "readinessProbe"] as const).flatMap((kind) => {
            const command = asObj(asObj(c[kind]).exec).command;
            const ok = Array.isArray(command) && command[0] === CLI_PROBE_COMMAND[0];
            return ok ? [] : [`CLI container ${str(c.name)} ${kind} must exec ${CLI_PROBE_COMMAND.join(" ")}`];
          }),
        ),
  },
  {
    name: "aci-copilot-home-on-azure-files",
    description:
      "The CLI's session state is on a writable Azure Files mount, so it survives the container: COPILOT_HOME, or (shared-storage) COPILOT_HOME/session-state with the rest of the home on the group's own volume.",
    enforcementLevel: "mandatory",
    resourceType: CONTAINER_GROUP,
    check: (props) =>
      asArr(props.containers)
        .filter(isCliContainer)
        .flatMap((c) => {
          const home = str(envValue(c, COPILOT_HOME_ENV)?.value);
          if (!home) return [`CLI container ${str(c.name)} does not set ${COPILOT_HOME_ENV}`];
          const homeMount = asArr(c.volumeMounts).find((m) => m.mountPath === home);
          if (!homeMount) return [`CLI container ${str(c.name)}: no volume is mounted at ${COPILOT_HOME_ENV}=${home}`];
          const mount = asArr(c.volumeMounts).find((m) => m.mountPath === `${home}/session-state`) ?? homeMount;
          const at = str(mount.mountPath);
          if (homeMount.readOnly === true || mount.readOnly === true) return [`CLI container ${str(c.name)}: the mount at ${at} is read-only`];
          const volume = asArr(props.volumes).find((v) => v.name === mount.name);
          if (!volume?.azureFile) return [`CLI container ${str(c.name)}: volume ${str(mount.name)} at ${at} is not an Azure Files share`];
          if (asObj(volume.azureFile).readOnly === true) return [`CLI container ${str(c.name)}: share ${str(mount.name)} is read-only`];
          return [];
        }),
  },
  {
    name: "aci-azure-files-key",
    description: "Azure Files volumes carry the account key (or a key reference); ACI cannot mount them otherwise.",
    enforcementLevel: "mandatory",
    resourceType: CONTAINER_GROUP,
    check: (props) =>
      asArr(props.volumes)
        .filter((v) => v.azureFile !== undefined)
        .flatMap((v) => {
          const f = asObj(v.azureFile);
          return f.storageAccountKey === undefined && f.storageAccountKeyReference === undefined ? [`volume ${str(v.name)} has no storage account key`] : [];
        }),
  },
  {
    name: "aci-resources",
    description: "Every container requests CPU and memory.",
    enforcementLevel: "mandatory",
    resourceType: CONTAINER_GROUP,
    check: (props) =>
      containersOf(props).flatMap((c) => {
        const requests = asObj(asObj(c.resources).requests);
        const ok = typeof requests.cpu === "number" && requests.cpu > 0 && typeof requests.memoryInGB === "number" && requests.memoryInGB > 0;
        return ok ? [] : [`container ${str(c.name)} requests no CPU or memory`];
      }),
  },
  {
    name: "aci-cli-port-not-public",
    description: `The CLI port ${CLI_PORT} (raw TCP, no TLS) is not on a public IP unless the stack explicitly accepted it.`,
    enforcementLevel: "mandatory",
    resourceType: CONTAINER_GROUP,
    check: (props) => {
      const ip = asObj(props.ipAddress);
      const exposed = ip.type === "Public" && asArr(ip.ports).some((p) => p.port === CLI_PORT);
      const accepted = asObj(props.tags)[PUBLIC_CLI_TAG] === "acknowledged";
      return exposed && !accepted ? [`port ${CLI_PORT} is on a public IP; use a subnet (private IP) or tag ${PUBLIC_CLI_TAG}=acknowledged`] : [];
    },
  },
  {
    name: "aci-restart-policy",
    description: "Servers restart when they stop: restartPolicy is not Never.",
    enforcementLevel: "advisory",
    resourceType: CONTAINER_GROUP,
    check: (props) => (props.restartPolicy === "Never" ? ["restartPolicy Never leaves a crashed server down"] : []),
  },
  {
    name: "aci-image-pinned",
    description: "Images name a version or digest, not latest.",
    enforcementLevel: "advisory",
    resourceType: CONTAINER_GROUP,
    check: (props) =>
      containersOf(props).flatMap((c) => {
        const image = str(c.image) ?? "";
        const pinned = image.includes("@sha256:") || /:[^/:]+$/.test(image);
        return !pinned || image.endsWith(":latest") ? [`container ${str(c.name)} image ${image} is not pinned`] : [];
      }),
  },
  {
    name: "azure-storage-secure-transfer",
    description: "The session-state storage account accepts HTTPS/encrypted SMB only, TLS 1.2 or newer, and no public blob access.",
    enforcementLevel: "mandatory",
    resourceType: STORAGE_ACCOUNT,
    check: (props) => [
      ...(props.enableHttpsTrafficOnly === true ? [] : ["enableHttpsTrafficOnly must be true"]),
      ...(["TLS1_2", "TLS1_3"].includes(str(props.minimumTlsVersion) ?? "") ? [] : [`minimumTlsVersion must be TLS1_2 or newer (is ${String(props.minimumTlsVersion)})`]),
      ...(props.allowBlobPublicAccess === false ? [] : ["allowBlobPublicAccess must be false"]),
    ],
  },
  {
    name: "azure-file-share-smb",
    description: "ACI mounts Azure Files over SMB only.",
    enforcementLevel: "mandatory",
    resourceType: FILE_SHARE,
    check: (props) => (props.enabledProtocols === undefined || props.enabledProtocols === "SMB" ? [] : [`enabledProtocols ${String(props.enabledProtocols)} cannot be mounted by ACI`]),
  },
];

/** Runs every rule for `type` on `props`. */
export function checkAzureResource(type: string, props: Record<string, unknown>): AzureViolation[] {
  return azureRules
    .filter((r) => r.resourceType === type)
    .flatMap((r) => r.check(props).map((message) => ({ rule: r.name, enforcementLevel: r.enforcementLevel, message })));
}

/** The rules as CrossGuard resource policies, for the PolicyPack in components/policy/index.ts. */
export const azurePolicies: ResourceValidationPolicy[] = azureRules.map((rule) => ({
  name: rule.name,
  description: rule.description,
  enforcementLevel: rule.enforcementLevel,
  validateResource: (args, reportViolation) => {
    if (args.type !== rule.resourceType) return;
    for (const message of rule.check(args.props)) reportViolation(message);
  },
}));
