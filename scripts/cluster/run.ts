/**
 * `npm run test:cluster [-- --only shared,sticky] [--no-exposure] [--no-rolling] [--keep-cluster]`
 * The Kubernetes path for real on this machine: builds the toolchain and the images (cached), brings
 * up the one-node cluster, then for each topology `pulumi up` with the real engine, conformance with
 * its profile, the k6 smoke and `pulumi destroy`; the exposure stack's checks; then a rolling CLI image change under load. Writes
 * reports/cluster/report.json and report.md, prints `N passed, N failed` and exits 1 on any failure.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { down, status, up } from "../../local/cluster/cluster.js";
import { paths } from "../../local/cluster/layout.js";
import { buildToolchain } from "../../local/cluster/toolchain.js";
import { buildImages, importImages, nodeImages, retagImage } from "../../local/cluster/images.js";
import { TOPOLOGY_NAMES, type TopologyName } from "../../topology/index.js";
import { deployAndCheck, type TopologyResult } from "./deploy-check.js";
import { exposureCheck, type ExposureResult } from "./exposure-check.js";
import { isolationHeld } from "./isolation-checks.js";
import { clusterReportMarkdown } from "./report.js";
import { rollingUpdate, type RollingUpdateResult } from "./rolling-update.js";

const ROOT = resolve(import.meta.dirname, "../..");
const REPORT_DIR = join(ROOT, "reports", "cluster");

export interface ClusterReport {
  date: string;
  machine: { cores: number; node: string };
  topologies: TopologyResult[];
  rollingUpdate?: RollingUpdateResult;
  /** Stack local-exposure: Ingress with TLS, ServiceMonitor, the admin port (exposure-check.ts). */
  exposure?: ExposureResult;
  timings: Record<string, number>;
  clusterLeftovers: string[];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: { only: { type: "string" }, "no-rolling": { type: "boolean", default: false }, "no-exposure": { type: "boolean", default: false }, "keep-cluster": { type: "boolean", default: false } },
  });
  const topologies = (values.only?.split(",") ?? TOPOLOGY_NAMES) as TopologyName[];
  for (const t of topologies) if (!TOPOLOGY_NAMES.includes(t)) throw new Error(`--only: unknown topology ${t} (${TOPOLOGY_NAMES.join(", ")})`);
  mkdirSync(REPORT_DIR, { recursive: true });
  const log = (l: string) => console.log(l);
  const timings: Record<string, number> = {};
  const timed = async <T>(key: string, fn: () => Promise<T>): Promise<T> => {
    const t = Date.now();
    try {
      return await fn();
    } finally {
      timings[key] = Math.round((Date.now() - t) / 100) / 10;
    }
  };

  await timed("toolchainSeconds", () => buildToolchain(undefined, 10));
  const images = await timed("imagesSeconds", () => buildImages({ log }));
  const startedHere = !status().up;
  if (startedHere) await timed("clusterUpSeconds", () => up({ importNodeImages: (socket) => importImages(socket, nodeImages()), log }));
  // The content-hash tags the test deploys, and `:local`, which the stack files name (Redis included).
  const local = Object.values(images).map((r) => `${r.slice(0, r.lastIndexOf(":"))}:local`);
  await timed("imageImportSeconds", () => importImages(paths.containerdSocket, [...Object.values(images), ...local]));

  const report: ClusterReport = { date: new Date().toISOString(), machine: { cores: (await import("node:os")).cpus().length, node: status().state?.node ?? "" }, topologies: [], timings, clusterLeftovers: [] };
  const overrides = {
    "copilot-scale-kit:images": JSON.stringify({ cli: images.cli, gateway: images.gateway }),
  };
  const write = () => {
    writeFileSync(join(REPORT_DIR, "report.json"), `${JSON.stringify(report, null, 2)}\n`);
    writeFileSync(join(REPORT_DIR, "report.md"), clusterReportMarkdown(report));
  };
  try {
    for (const topology of topologies) {
      report.topologies.push(await deployAndCheck(topology, paths.kubeconfig, overrides, REPORT_DIR, log));
      write();
    }
    if (!values["no-exposure"]) {
      report.exposure = await timed("exposureSeconds", () => exposureCheck(paths.kubeconfig, overrides, log));
      write();
    }
    if (!values["no-rolling"]) {
      // A new tag of the same image is a changed pod template: every CLI Deployment must roll.
      const next = await retagImage(images.cli, "rolling");
      await importImages(paths.containerdSocket, [next]);
      report.rollingUpdate = await timed("rollingUpdateSeconds", () => rollingUpdate("shared-storage", paths.kubeconfig, { cli: images.cli, gateway: images.gateway }, next, join(REPORT_DIR, "rolling-update.log"), log));
    }
  } finally {
    if (startedHere && !values["keep-cluster"]) report.clusterLeftovers = await timed("clusterDownSeconds", () => down(log));
    write();
  }
  const checks = [
    ...report.topologies.flatMap((t) => [
      t.up,
      t.leftovers.length === 0,
      !!t.isolation && isolationHeld(t.isolation),
      // Fixed CLI servers run from the start; per-user Pods' DNS is one of per-user-check's checks.
      t.perUser !== undefined || t.isolation?.cliResolvesDns === true,
      // Skipped suites count neither way; the report gives the reason.
      ...(t.suitesSkipped ? [] : [t.conformance.failed === 0 && t.conformance.passed > 0, t.load.ok]),
      ...(t.perUser?.checks.map((c) => c.ok) ?? []),
    ]),
    ...(report.exposure ? [...report.exposure.checks.map((c) => c.ok), report.exposure.checks.length === 6 && !report.exposure.error, report.exposure.leftovers.length === 0] : []),
    ...(report.rollingUpdate ? [!report.rollingUpdate.error && report.rollingUpdate.lostTurns === 0 && report.rollingUpdate.turnsAcknowledged > 0] : []),
    report.clusterLeftovers.length === 0,
  ];
  const failed = checks.filter((c) => !c).length;
  writeCiCounts(checks.length - failed, failed);
  console.log(`\ncluster: report in ${join(REPORT_DIR, "report.md")}`);
  console.log(`${checks.length - failed} passed, ${failed} failed`);
  return failed ? 1 : 0;
}

/** The counts scripts/ci-summary.ts adds to CI's closing line. */
function writeCiCounts(passed: number, failed: number): void {
  mkdirSync(REPORT_DIR, { recursive: true });
  writeFileSync(join(REPORT_DIR, "ci.json"), JSON.stringify({ passed, failed }));
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(`test:cluster: ${(err as Error).stack ?? String(err)}`);
    writeCiCounts(0, 1);
    console.log("0 passed, 1 failed");
    process.exit(1);
  },
);
