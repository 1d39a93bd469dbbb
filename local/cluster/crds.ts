/**
 * The custom resource definitions of the APIs a kit stack may use for exposure and scraping: Gateway
 * API (HTTPRoute), prometheus-operator (ServiceMonitor) and cert-manager (Certificate). `up` applies
 * them so that the real API server validates the kit's objects against their published schemas. Only
 * the definitions: no controller runs for them on this cluster (no route carries traffic, no
 * certificate is issued, nothing scrapes); that part only a cloud shows. They come from the Go module
 * proxy, the pinned source the toolchain already uses, since no other download site is reachable.
 */
import { execFileSync } from "node:child_process";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

export interface CrdSource {
  module: string;
  version: string;
  /** Paths inside the module, one CustomResourceDefinition each, named `<group>_<plural>.yaml`. */
  files: string[];
}

export const CRD_SOURCES: CrdSource[] = [
  {
    module: "sigs.k8s.io/gateway-api",
    version: "v1.4.0",
    files: ["gatewayclasses", "gateways", "httproutes", "referencegrants"].map((k) => `config/crd/standard/gateway.networking.k8s.io_${k}.yaml`),
  },
  {
    module: "github.com/prometheus-operator/prometheus-operator",
    version: "v0.85.0",
    files: ["example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml"],
  },
  {
    module: "github.com/cert-manager/cert-manager",
    version: "v1.21.2",
    files: ["deploy/crds/cert-manager.io_certificates.yaml"],
  },
];

/** The CRDs' object names (`<plural>.<group>`), which `up` waits to see Established. */
export function crdNames(sources: CrdSource[] = CRD_SOURCES): string[] {
  return sources.flatMap((s) =>
    s.files.map((f) => {
      const m = /^(.+)_([a-z]+)\.yaml$/.exec(basename(f));
      if (!m) throw new Error(`CRD file ${f} is not named <group>_<plural>.yaml`);
      return `${m[2]}.${m[1]}`;
    }),
  );
}

/** Downloads each source (or finds it in the module cache) and returns its CRD files' paths. */
export function crdFiles(sources: CrdSource[] = CRD_SOURCES): string[] {
  const out = execFileSync("go", ["mod", "download", "-json", ...sources.map((s) => `${s.module}@${s.version}`)], {
    cwd: tmpdir(),
    // Outside any module: no -mod flag; GOTOOLCHAIN=local never fetches another Go.
    env: { ...process.env, GOFLAGS: "", GOTOOLCHAIN: "local" },
    encoding: "utf8",
  });
  const dirs = new Map(parseDownloads(out).map((d) => [d.Path, d.Dir]));
  return sources.flatMap((s) => s.files.map((f) => join(dirs.get(s.module)!, f)));
}

/** `go mod download -json` prints one JSON object per module, back to back (not an array). */
export function parseDownloads(out: string): Array<{ Path: string; Dir: string }> {
  const objects = out.split(/(?<=^})\n/m).filter((c) => c.trim());
  return objects.map((text) => {
    const info = JSON.parse(text) as { Path: string; Version?: string; Dir?: string; Error?: string };
    if (info.Error || !info.Dir) throw new Error(`go mod download ${info.Path}@${info.Version ?? "?"}: ${info.Error ?? "no Dir"}`);
    return { Path: info.Path, Dir: info.Dir };
  });
}
