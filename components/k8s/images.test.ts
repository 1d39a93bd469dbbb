/**
 * The images the components run: the Dockerfiles keep the contract the components rely on
 * (images/contract.ts), and the bundles they ship really work (the probe against a real CLI server,
 * the gateway's serve and cleanup commands). No Docker engine is needed for either.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type CliServerHandle, startCliServer } from "../../testing/local.js";
import { build } from "esbuild";
import { bundle, bundleOptions } from "../../images/bundle.js";
import {
  CLI_PORT,
  CLI_PROBE_COMMAND,
  CLI_SERVER_FLAGS,
  COPILOT_HOME_PATH,
  GATEWAY_COMMANDS,
  GATEWAY_ENTRY,
  GATEWAY_NODE_FLAGS,
  GATEWAY_ADMIN_PORT,
  GATEWAY_PORT,
  IMAGE_UID,
} from "../../images/contract.js";

const ROOT = join(import.meta.dirname, "..", "..");
const run = promisify(execFile);

/** The instructions of a Dockerfile's final stage, continuation lines joined. */
function finalStage(path: string): string[] {
  const lines = readFileSync(join(ROOT, path), "utf8")
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith("#"));
  const lastFrom = lines.findLastIndex((l) => l.startsWith("FROM "));
  return lines.slice(lastFrom);
}
const instruction = (stage: string[], name: string) => stage.filter((l) => l.startsWith(`${name} `)).map((l) => l.slice(name.length + 1));
const execForm = (stage: string[], name: string): string[] => JSON.parse(instruction(stage, name).at(-1) ?? "null");

describe("images/cli/Dockerfile", () => {
  const stage = finalStage("images/cli/Dockerfile");

  it("runs the headless server with the contract's flags under tini, as the non-root user", () => {
    expect(execForm(stage, "ENTRYPOINT")).toEqual(["tini", "--", "copilot", ...CLI_SERVER_FLAGS]);
    expect(CLI_SERVER_FLAGS).toEqual(["--headless", "--host", "0.0.0.0", "--port", String(CLI_PORT), "--no-auto-update", "--no-auto-login"]);
    expect(instruction(stage, "USER").at(-1)).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
    expect(instruction(stage, "EXPOSE")).toEqual([String(CLI_PORT)]);
  });

  it("puts COPILOT_HOME on the volume and health-checks with the protocol probe", () => {
    expect(stage.some((l) => l.startsWith("ENV ") && l.includes(`COPILOT_HOME=${COPILOT_HOME_PATH}`))).toBe(true);
    expect(instruction(stage, "VOLUME")).toEqual(['["/data"]']);
    expect(JSON.parse(instruction(stage, "HEALTHCHECK")[0]!.replace(/^.*CMD /, ""))).toEqual(CLI_PROBE_COMMAND);
  });

  it("takes the CLI binary from the lockfile, whose pin matches the SDK's", () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8"));
    const cli = pkg.dependencies["@github/copilot"];
    expect(cli).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pkg.dependencies["@github/copilot-sdk"]).toMatch(/^\d+\.\d+\.\d+$/);
    expect(lock.packages["node_modules/@github/copilot"].version).toBe(cli);
    expect(lock.packages["node_modules/@github/copilot-linux-x64"].version).toBe(cli);
    const build = readFileSync(join(ROOT, "images/cli/Dockerfile"), "utf8");
    expect(build).toMatch(/RUN npm ci /);
    expect(build).toMatch(/node_modules\/@github\/copilot-linux-\$\(node -p process\.arch\)\/copilot/);
  });
});

describe("images/gateway/Dockerfile", () => {
  const stage = finalStage("images/gateway/Dockerfile");

  it("runs node /app/gateway.js serve as the non-root user", () => {
    expect(execForm(stage, "ENTRYPOINT")).toEqual(["node", ...GATEWAY_NODE_FLAGS, GATEWAY_ENTRY]);
    expect(execForm(stage, "CMD")).toEqual([GATEWAY_COMMANDS.serve]);
    expect(instruction(stage, "USER").at(-1)).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
    expect(instruction(stage, "EXPOSE")).toEqual([`${GATEWAY_PORT} ${GATEWAY_ADMIN_PORT}`]);
  });

  it("ships only the bundle: no npm install and no node_modules in the runtime stage", () => {
    expect(stage.filter((l) => /node_modules|npm (ci|install)/.test(l))).toEqual([]);
    expect(instruction(stage, "COPY")).toEqual(["--from=build /out/app/ /app/"]);
  });
});

describe("the bundles the images ship", () => {
  const out = mkdtempSync(join(tmpdir(), "kit-images-"));
  const token = "image-test-token-0123456789";
  let cli: CliServerHandle;
  let gateway: ChildProcess | undefined;

  beforeAll(async () => {
    await Promise.all([bundle("probe", join(out, "probe", "copilot-probe.mjs")), bundle("gateway", join(out, "app", "gateway.js"))]);
    cli = await startCliServer({
      home: join(out, "home"),
      connectionToken: token,
      // One unpacked CLI cache for every run, instead of ~235 MB per fresh HOME.
      env: { XDG_CACHE_HOME: join(tmpdir(), "copilot-scale-kit-cli-cache") },
    });
  }, 60_000);

  afterAll(async () => {
    gateway?.kill("SIGKILL");
    await cli?.stop();
    rmSync(out, { recursive: true, force: true });
  });

  const probe = (address: string, env: Record<string, string>) =>
    run(process.execPath, [join(out, "probe", "copilot-probe.mjs"), "--address", address, "--timeout-ms", "3000"], { env: { PATH: process.env.PATH, ...env } }).then(
      (r) => ({ code: 0, out: r.stdout }),
      (e: { code: number; stderr: string }) => ({ code: e.code, out: e.stderr }),
    );

  it("the probe passes with the connection token, fails with a wrong one or no server", async () => {
    expect(await probe(cli.address, { COPILOT_CONNECTION_TOKEN: token })).toMatchObject({ code: 0, out: expect.stringMatching(/^ok .* protocol=\d+/) });
    expect(await probe(cli.address, { COPILOT_CONNECTION_TOKEN: "wrong-token-000000000" })).toMatchObject({ code: 1, out: expect.stringMatching(/AUTHENTICATION_FAILED/) });
    expect(await probe("127.0.0.1:1", { COPILOT_CONNECTION_TOKEN: token })).toMatchObject({ code: 1 });
  });

  it("the gateway bundle carries no Pulumi or Azure code", () => {
    const chunks = readdirSync(join(out, "app", "chunks")).map((f) => join(out, "app", "chunks", f));
    const text = [join(out, "app", "gateway.js"), ...chunks].map((f) => readFileSync(f, "utf8")).join("\n");
    expect(text).not.toMatch(/@pulumi\/|azure-native/);
    // V8 keeps the whole source in memory, at two bytes per character if one is outside Latin-1.
    expect(text.length).toBeGreaterThan(1_000_000);
    expect(text.match(/[\u0100-\uffff]/g) ?? []).toEqual([]);
    expect(JSON.parse(readFileSync(join(out, "app", "package.json"), "utf8"))).toEqual({ type: "module" });
  });

  it("the gateway loads the Kubernetes client with import() only, so gateways without per-user Pods or Secrets never evaluate it", async () => {
    const { metafile } = await build({ ...bundleOptions("gateway", join(out, "graph.js")), write: false });
    // Modules the gateway's entry reaches through static imports alone (these run at start-up).
    const reached = new Set<string>();
    const walk = (file: string) => {
      if (reached.has(file)) return;
      reached.add(file);
      for (const imp of metafile.inputs[file]?.imports ?? []) if (imp.kind === "import-statement" || imp.kind === "require-call") walk(imp.path);
    };
    walk(Object.keys(metafile.inputs).find((f) => f.endsWith("gateway/main.ts"))!);
    const kube = (f: string) => f.includes("node_modules/@kubernetes/client-node/");
    expect(reached.size).toBeGreaterThan(50);
    expect(Object.keys(metafile.inputs).some(kube)).toBe(true);
    expect([...reached].filter(kube)).toEqual([]);
  });

  it("the Kubernetes client is in a chunk of its own that the gateway's start-up does not read (V8 keeps every loaded source in memory)", async () => {
    const { metafile } = await build({ ...bundleOptions("gateway", join(out, "graph", "gateway.js")), write: false });
    const outputs = metafile.outputs;
    // Output files the entry loads at start-up: itself and the chunks it imports statically.
    const loaded = new Set<string>();
    const walk = (file: string) => {
      if (loaded.has(file)) return;
      loaded.add(file);
      for (const imp of outputs[file]?.imports ?? []) if (imp.kind === "import-statement" && !imp.external) walk(imp.path);
    };
    const entry = Object.keys(outputs).find((f) => f.endsWith("graph/gateway.js"))!;
    walk(entry);
    const withKube = Object.keys(outputs).filter((f) => Object.keys(outputs[f]!.inputs).some((i) => i.includes("node_modules/@kubernetes/client-node/")));
    expect(withKube.length).toBeGreaterThan(0);
    expect(loaded.size).toBeGreaterThan(1);
    expect(withKube.filter((f) => loaded.has(f))).toEqual([]);
    const startupBytes = [...loaded].reduce((n, f) => n + outputs[f]!.bytes, 0);
    const allBytes = Object.values(outputs).reduce((n, o) => n + o.bytes, 0);
    expect(startupBytes).toBeLessThan(allBytes * 0.7);
  });

  it("the gateway bundle serves healthz, and readyz and metrics on its admin port only, drains on SIGTERM, and runs cleanup", async () => {
    const env = {
      PATH: process.env.PATH ?? "",
      GATEWAY_CONFIG: JSON.stringify({
        topology: "shared",
        host: "127.0.0.1",
        port: 0,
        admin: { port: 0 },
        backends: { kind: "static", servers: [{ id: "0", address: cli.address, tokenEnv: "CLI_TOKEN_0" }] },
        storeFile: join(out, "registry.json"),
      }),
      CLI_TOKEN_0: token,
      GATEWAY_JWT_SECRET: "image-test-jwt-secret-0123456789abcdef",
    };
    gateway = spawn(process.execPath, [...GATEWAY_NODE_FLAGS, join(out, "app", "gateway.js"), GATEWAY_COMMANDS.serve], { env, stdio: ["ignore", "pipe", "pipe"] });
    const { url, admin } = await new Promise<{ url: string; admin: string }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error("the gateway bundle did not start within 15 s")), 15_000);
      gateway!.stdout!.on("data", (d) => {
        const m = /gateway listening on (http:\/\/\S+) and admin on (http:\/\/\S+)/.exec(String(d));
        if (m) {
          clearTimeout(timer);
          resolve({ url: m[1]!, admin: m[2]! });
        }
      });
    });
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${admin}/readyz`)).status).toBe(200);
    expect((await fetch(`${admin}/metrics`)).status).toBe(200);
    expect([(await fetch(`${url}/readyz`)).status, (await fetch(`${url}/metrics`)).status]).toEqual([404, 404]);
    const exit = new Promise<number | null>((resolve) => gateway!.once("exit", (code) => resolve(code)));
    gateway.kill("SIGTERM");
    expect(await exit).toBe(0);

    const cleanup = await run(process.execPath, [join(out, "app", "gateway.js"), GATEWAY_COMMANDS.cleanup], { env });
    expect(JSON.parse(cleanup.stdout.trim().split("\n").at(-1)!)).toMatchObject({ scanned: 0, deleted: 0, failed: [] });
  });
});
