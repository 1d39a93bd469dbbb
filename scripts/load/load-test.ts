/**
 * Distributed load through the k6 operator: a `TestRun` (k6.io/v1alpha1) that runs one of the kit's
 * k6 scenarios (scripts/load) against the stack's gateway from `parallelism` runner pods.
 *
 * - Scripts travel in a ConfigMap; when they exceed a ConfigMap's 1 MiB they are split over several
 *   ConfigMaps projected into one volume, and the TestRun points at it with `script.localFile`.
 * - The load config (gateway URLs, one token per distinct user minted from the target's auth, the
 *   profile parameters) is a Secret mounted into the runners.
 * - Results: each runner only sees its execution segment, so per-runner summaries (and the run-wide
 *   invariants) cannot be merged into correct percentiles. With `prometheus`, every runner
 *   remote-writes its samples, trends as native histograms, tagged `testid=<runId>` and
 *   `runner=<pod>`; percentiles and thresholds are then computed on the series summed over runners
 *   (docs/load-testing.md has the queries).
 *
 * A TestRun runs once, when created. `runId` names it: change it to start a new run.
 * The k6 operator (and its CRDs) must already be installed in the cluster.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { parseTarget } from "../../topology/target.js";
import { buildLoadConfig, LOAD_CONFIG_ENV, REPORT_DIR_ENV } from "./config.js";
import { K6_MODULES, LOAD_SCRIPTS_DIR, SCENARIOS, type ProfileName, type ScenarioName } from "./scenarios.js";
import { PART_OF, type ResourceRequirements } from "../../components/k8s/meta.js";

/** The k6 release the kit pins (scripts/install-k6.sh builds the same one for local runs). */
export const K6_VERSION = "1.8.1";
export const DEFAULT_K6_IMAGE = `grafana/k6:${K6_VERSION}`;
/** Kubernetes refuses a ConfigMap whose keys plus values exceed 1 MiB. */
export const CONFIG_MAP_LIMIT_BYTES = 1024 * 1024;
const SCRIPTS_VOLUME_DIR = "/load-scripts";
const CONFIG_DIR = "/etc/copilot-load";
const CONFIG_KEY = "config.json";
const REPORT_DIR = "/tmp/load-report";
/** User of the grafana/k6 image. */
const K6_UID = 12345;

export const DEFAULT_RUNNER_RESOURCES: ResourceRequirements = {
  requests: { cpu: "500m", memory: "512Mi" },
  limits: { cpu: "2", memory: "2Gi" },
};

export interface LoadTestPrometheus {
  /** Remote-write endpoint, e.g. http://prometheus.monitoring:9090/api/v1/write. */
  remoteWriteUrl: pulumi.Input<string>;
  /**
   * Trends as native histograms (default true): buckets add up across runners, so a quantile of
   * the merged series is correct. Needs Prometheus with `--enable-feature=native-histograms`.
   */
  nativeHistograms?: boolean;
}

export interface LoadTestArgs {
  namespace: pulumi.Input<string>;
  /** The stack's target descriptor JSON (`target` stack output): auth, topology, servers, settings. */
  target: pulumi.Input<string>;
  scenario: ScenarioName;
  /** Default `full`: what a team runs before a rollout. */
  profile?: ProfileName;
  /** Names this run (TestRun, config Secret, `testid` tag); a new value starts a new run. */
  runId: string;
  /** k6 runner pods; each runs an equal execution segment of the scenario. Default 1. */
  parallelism?: number;
  /** Put each runner on its own node (podAntiAffinity). */
  separate?: boolean;
  /** Gateway base URLs the runners call; default the target's. Prefer the in-cluster Service URL. */
  gatewayUrls?: pulumi.Input<pulumi.Input<string>[]>;
  prometheus?: LoadTestPrometheus;
  image?: string;
  resources?: ResourceRequirements;
  /** Extra files next to the scripts (e.g. a prompt corpus a custom scenario opens). */
  extraFiles?: Record<string, string>;
  /** Delete the runner jobs when the run ends (`cleanup: post`); keep them (and their logs) by default. */
  cleanupAfterRun?: boolean;
}

export interface ScriptBundle {
  /** File name → content, as the k6 scripts expect them side by side. */
  files: Record<string, string>;
  /** Files grouped so that each group fits one ConfigMap. */
  groups: Record<string, string>[];
}

const bytes = (files: Record<string, string>) =>
  Object.entries(files).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

/** The scenario script, the modules it imports and any extra files, packed into ConfigMap-sized groups. */
export function bundleScripts(scenario: ScenarioName, extraFiles: Record<string, string> = {}, limit = CONFIG_MAP_LIMIT_BYTES): ScriptBundle {
  const files: Record<string, string> = {};
  for (const f of [SCENARIOS[scenario].file, ...K6_MODULES]) files[f] = readFileSync(join(LOAD_SCRIPTS_DIR, f), "utf8");
  for (const [name, content] of Object.entries(extraFiles)) {
    if (!/^[-._a-zA-Z0-9]+$/.test(name)) throw new Error(`LoadTest: extraFiles key "${name}" must be a flat file name (letters, digits, '-', '_', '.')`);
    if (name in files) throw new Error(`LoadTest: extraFiles key "${name}" would replace a kit script`);
    files[name] = content;
  }
  const groups: Record<string, string>[] = [];
  // Largest first, each into the first group it fits (first-fit decreasing).
  for (const [name, content] of Object.entries(files).sort((a, b) => bytes({ [b[0]]: b[1] }) - bytes({ [a[0]]: a[1] }))) {
    const size = bytes({ [name]: content });
    if (size > limit) {
      throw new Error(`LoadTest: ${name} is ${size} bytes, more than one ConfigMap holds (${limit}); ship it in a custom runner image instead`);
    }
    const group = groups.find((g) => bytes(g) + size <= limit);
    if (group) group[name] = content;
    else groups.push({ [name]: content });
  }
  return { files, groups };
}

/** The pod and container security contexts every k6-operator pod needs under the restricted profile. */
const RESTRICTED_POD = {
  securityContext: { runAsNonRoot: true, runAsUser: K6_UID, runAsGroup: K6_UID, fsGroup: K6_UID, seccompProfile: { type: "RuntimeDefault" } },
  containerSecurityContext: { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ["ALL"] } },
};

export class LoadTest extends pulumi.ComponentResource {
  readonly testRunName: string;
  readonly configMapNames: string[];
  /** `configMap`: the operator mounts the one ConfigMap; `volume`: several, projected into one volume. */
  readonly scriptSource: "configMap" | "volume";
  readonly testRun: k8s.apiextensions.CustomResource;

  constructor(name: string, args: LoadTestArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:k8s:LoadTest", name, {}, opts);
    const profile = args.profile ?? "full";
    const parallelism = args.parallelism ?? 1;
    const image = args.image ?? DEFAULT_K6_IMAGE;
    const resources = args.resources ?? DEFAULT_RUNNER_RESOURCES;
    if (!Number.isInteger(parallelism) || parallelism < 1) throw new Error(`LoadTest: parallelism must be an integer >= 1 (got ${parallelism})`);
    if (!/^[a-z0-9]([-a-z0-9]{0,22}[a-z0-9])?$/.test(args.runId)) {
      throw new Error(`LoadTest: runId "${args.runId}" must be 1-24 lowercase letters, digits or '-' (it names Kubernetes objects)`);
    }
    const scenario = SCENARIOS[args.scenario];
    const base = `${name}-${args.runId}`;
    const labels = {
      "app.kubernetes.io/name": "k6",
      "app.kubernetes.io/instance": base,
      "app.kubernetes.io/component": "load-test",
      "app.kubernetes.io/part-of": PART_OF,
      "app.kubernetes.io/managed-by": "pulumi",
      "copilot-scale-kit.io/scenario": scenario.name,
    };
    const child = { parent: this };

    const bundle = bundleScripts(args.scenario, args.extraFiles);
    this.scriptSource = bundle.groups.length === 1 ? "configMap" : "volume";
    this.configMapNames = bundle.groups.map((_, i) => (bundle.groups.length === 1 ? `${base}-scripts` : `${base}-scripts-${i}`));
    const configMaps = bundle.groups.map(
      (data, i) =>
        new k8s.core.v1.ConfigMap(
          this.configMapNames[i]!,
          { metadata: { name: this.configMapNames[i], namespace: args.namespace, labels }, data },
          child,
        ),
    );

    // Tokens are minted once per runId (their iat changes on every mint), hence ignoreChanges.
    const loadConfig = pulumi.all([args.target, pulumi.output(args.gatewayUrls)]).apply(async ([targetJson, urls]) => {
      const target = parseTarget(JSON.parse(targetJson), "LoadTest args.target");
      return JSON.stringify(await buildLoadConfig(target, args.scenario, profile, { runId: args.runId, gatewayUrls: urls }));
    });
    const secret = new k8s.core.v1.Secret(
      `${base}-config`,
      {
        metadata: { name: `${base}-config`, namespace: args.namespace, labels },
        type: "Opaque",
        stringData: { [CONFIG_KEY]: pulumi.secret(loadConfig) },
      },
      { ...child, ignoreChanges: ["stringData"] },
    );

    const volumes: k8s.types.input.core.v1.Volume[] = [
      { name: "load-config", secret: { secretName: secret.metadata.name, defaultMode: 0o440 } },
      { name: "tmp", emptyDir: { sizeLimit: "256Mi" } },
    ];
    const volumeMounts: k8s.types.input.core.v1.VolumeMount[] = [
      { name: "load-config", mountPath: CONFIG_DIR, readOnly: true },
      { name: "tmp", mountPath: "/tmp" },
    ];
    if (this.scriptSource === "volume") {
      volumes.push({ name: "load-scripts", projected: { sources: configMaps.map((cm) => ({ configMap: { name: cm.metadata.name } })) } });
      volumeMounts.push({ name: "load-scripts", mountPath: SCRIPTS_VOLUME_DIR, readOnly: true });
    }

    const env: k8s.types.input.core.v1.EnvVar[] = [
      { name: LOAD_CONFIG_ENV, value: `${CONFIG_DIR}/${CONFIG_KEY}` },
      { name: REPORT_DIR_ENV, value: REPORT_DIR },
      // Run-wide invariants need every sample; with several runners they move to Prometheus.
      { name: "LOAD_DISTRIBUTED", value: parallelism > 1 ? "1" : "0" },
      // Tags every sample with the pod, so runners never write into one another's series.
      { name: "LOAD_RUNNER", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
    ];
    const cliArgs = ["--tag", `testid=${args.runId}`];
    if (args.prometheus) {
      cliArgs.push("--out", "experimental-prometheus-rw");
      env.push(
        { name: "K6_PROMETHEUS_RW_SERVER_URL", value: args.prometheus.remoteWriteUrl },
        { name: "K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM", value: String(args.prometheus.nativeHistograms ?? true) },
      );
    }

    this.testRunName = base;
    this.testRun = new k8s.apiextensions.CustomResource(
      `${base}-testrun`,
      {
        apiVersion: "k6.io/v1alpha1",
        kind: "TestRun",
        metadata: { name: base, namespace: args.namespace, labels },
        spec: {
          parallelism,
          separate: args.separate ?? false,
          script:
            this.scriptSource === "configMap"
              ? { configMap: { name: configMaps[0]!.metadata.name, file: scenario.file } }
              : { localFile: `${SCRIPTS_VOLUME_DIR}/${scenario.file}` },
          arguments: cliArgs.join(" "),
          // The operator's initializer Pod copies the runner settings when it is not given its own.
          runner: { image, env, volumes, volumeMounts, resources, metadata: { labels }, ...RESTRICTED_POD },
          // The starter Pod (it tells the runners to start) gets no security context of its own, so a
          // namespace enforcing the restricted Pod Security profile would refuse it.
          starter: { metadata: { labels }, ...RESTRICTED_POD },
          ...(args.cleanupAfterRun ? { cleanup: "post" } : {}),
        },
      },
      { ...child, dependsOn: [secret, ...configMaps] },
    );
    this.registerOutputs({ testRunName: this.testRunName, configMapNames: this.configMapNames, scriptSource: this.scriptSource });
  }
}
