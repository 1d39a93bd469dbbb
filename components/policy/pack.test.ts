/**
 * The policy pack as the Pulumi CLI runs it: loaded with require() from its directory, it serves
 * the analyzer gRPC API; we call it as the engine would (no CLI needed).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

/* eslint-disable @typescript-eslint/no-explicit-any -- generated protobuf classes, loaded untyped */
// The engine-side protocol classes ship inside @pulumi/pulumi; load them (and its gRPC) from there.
const fromPulumi = createRequire(createRequire(import.meta.url).resolve("@pulumi/pulumi"));
const grpc = fromPulumi("@grpc/grpc-js");
const { AnalyzerClient } = fromPulumi("./proto/analyzer_grpc_pb.js");
const { AnalyzeRequest, AnalyzerResourceOptions } = fromPulumi("./proto/analyzer_pb.js");
const { Struct } = fromPulumi("google-protobuf/google/protobuf/struct_pb.js");
const { Empty } = fromPulumi("google-protobuf/google/protobuf/empty_pb.js");

const PACK_DIR = dirname(fileURLToPath(import.meta.url));
let pack: ChildProcess;
let client: any;

const call = <T>(method: string, request: unknown): Promise<T> =>
  new Promise((resolve, reject) => client[method](request, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));

beforeAll(async () => {
  // What the CLI's run-policy-pack does: chdir to the pack, require() it, await the result.
  pack = spawn(process.execPath, ["-e", "Promise.resolve(require(process.cwd())).catch((e) => { console.error(e); process.exit(3); })"], {
    cwd: PACK_DIR,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  pack.stderr!.on("data", (d) => (stderr += String(d)));
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the pack did not print its port within 20 s: ${stderr}`)), 20_000);
    pack.stdout!.on("data", (d) => {
      const m = /^(\d+)\s*$/m.exec(String(d));
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    pack.once("exit", (code) => reject(new Error(`the pack exited with ${code}: ${stderr}`)));
  });
  client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}, 30_000);

afterAll(() => {
  client?.close();
  pack?.kill();
});

describe("policy pack (served as `pulumi preview --policy-pack components/policy` would start it)", () => {
  it("announces every Kubernetes rule", async () => {
    const info: any = await call("getAnalyzerInfo", new Empty());
    expect(info.getName()).toBe("copilot-scale-kit");
    const names = info.getPoliciesList().map((p: any) => p.getName());
    expect(names).toEqual(expect.arrayContaining(["k8s-non-root", "k8s-probes-present", "k8s-no-plaintext-secrets", "k8s-resource-limits", "k8s-shared-state-rwx", "k8s-shared-claims-rwx"]));
  });

  it("reports violations for a Deployment that breaks the rules, and none for other providers' resources", async () => {
    const bad = {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "bad" },
      spec: {
        selector: { matchLabels: { app: "x" } },
        template: {
          metadata: { labels: { app: "x" } },
          spec: { containers: [{ name: "c", image: "i", env: [{ name: "GITHUB_TOKEN", value: "ghp_x" }] }] },
        },
      },
    };
    const analyze = async (type: string, props: unknown) => {
      const req = new AnalyzeRequest();
      req.setType(type);
      req.setName("bad");
      req.setUrn(`urn:pulumi:test::copilot-scale-kit::${type}::bad`);
      req.setProperties(Struct.fromJavaScript(props));
      req.setOptions(new AnalyzerResourceOptions());
      const res: any = await call("analyze", req);
      return res.getDiagnosticsList().map((d: any) => `${d.getPolicyname()}: ${d.getMessage()}`);
    };
    const diagnostics: string[] = await analyze("kubernetes:apps/v1:Deployment", bad);
    for (const rule of ["k8s-non-root", "k8s-probes-present", "k8s-no-plaintext-secrets", "k8s-resource-limits"]) {
      expect(diagnostics.some((d) => d.startsWith(`${rule}: `)), rule).toBe(true);
    }
    expect(await analyze("random:index/randomPassword:RandomPassword", { length: 8 })).toEqual([]);
  });
});
