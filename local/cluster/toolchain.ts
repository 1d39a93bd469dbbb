/**
 * Builds the pinned Go tools of the real-cluster path (local/cluster/toolchain.json) from the Go module
 * proxy into a cache keyed by tool and version, so a second run costs nothing.
 *   npm run toolchain [-- build] [--only a,b] [--nice N]   build what is missing, with progress
 *   npm run toolchain -- status [--json]                    what is built, where
 * A failed build names the tool, the step and its log.
 */
import { spawn } from "node:child_process";
import { chmodSync, cpSync, createWriteStream, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

const HERE = dirname(fileURLToPath(import.meta.url));

const ToolSpec = z.strictObject({
  version: z.string(),
  why: z.string(),
  /** Tools of one lane build one after another; the lanes build at the same time. */
  lane: z.enum(["cluster", "engine"]),
  require: z.record(z.string(), z.string()),
  replace: z.record(z.string(), z.string()).optional(),
  /** Replace every k8s.io staging module of k8s.io/kubernetes with this published version. */
  replaceStagingWith: z.string().optional(),
  /** A main package of our own (file beside this one), built as the module root. */
  mainSource: z.string().optional(),
  /** A main package whose go:embed'ed schema is generated, not shipped in the module zip. */
  generatedSchema: z.string().optional(),
  /** The version the Pulumi engine knows this plugin by. */
  pluginVersion: z.string().optional(),
  packages: z.record(z.string(), z.string()),
  ldflags: z.string().optional(),
});
const Manifest = z.strictObject({ $comment: z.string(), go: z.string(), tools: z.record(z.string(), ToolSpec) });
export type ToolName = keyof typeof manifest.tools & string;
type Spec = z.infer<typeof ToolSpec>;

export const manifest = Manifest.parse(JSON.parse(readFileSync(join(HERE, "toolchain.json"), "utf8")));

/** Where built tools live; KIT_TOOLCHAIN_DIR moves it (CI caches it between runs). */
export function toolchainDir(): string {
  return process.env.KIT_TOOLCHAIN_DIR ?? join(homedir(), ".cache", "copilot-scale-kit", "toolchain");
}

function toolDir(name: string, spec: Spec): string {
  return join(toolchainDir(), `${name}-${spec.version.replace(/[^A-Za-z0-9._-]/g, "_")}`);
}

/** Path of a built binary, or an error that says how to build it. */
export function toolBinary(tool: string, binary = tool): string {
  const spec = manifest.tools[tool];
  if (!spec) throw new Error(`toolchain: no tool "${tool}" in local/cluster/toolchain.json`);
  const path = join(toolDir(tool, spec), "bin", binary);
  if (!existsSync(join(toolDir(tool, spec), ".complete")) || !existsSync(path)) {
    throw new Error(`toolchain: ${tool} ${spec.version} is not built; run: npm run toolchain -- --only ${tool}`);
  }
  return path;
}

export function toolStatus(): Array<{ tool: string; version: string; built: boolean; dir: string; binaries: string[] }> {
  return Object.entries(manifest.tools).map(([tool, spec]) => ({
    tool,
    version: spec.pluginVersion ? `${spec.version} (plugin ${spec.pluginVersion})` : spec.version,
    built: existsSync(join(toolDir(tool, spec), ".complete")),
    dir: toolDir(tool, spec),
    binaries: Object.keys(spec.packages).map((b) => join(toolDir(tool, spec), "bin", b)),
  }));
}

class StepFailed extends Error {}

function goEnv(): NodeJS.ProcessEnv {
  // GOTOOLCHAIN=local: never download another Go; -mod=mod: wrapper modules resolve their own go.sum.
  return { ...process.env, GOFLAGS: "-mod=mod", GOTOOLCHAIN: "local", CGO_ENABLED: process.env.CGO_ENABLED ?? "0" };
}

async function run(log: string, label: string, cmd: string[], cwd: string, env: NodeJS.ProcessEnv, nice: number): Promise<string> {
  const out = createWriteStream(log, { flags: "a" });
  out.write(`\n$ (${cwd}) ${cmd.join(" ")}\n`);
  const argv = nice > 0 ? ["nice", "-n", String(nice), ...cmd] : cmd;
  let stdout = "";
  const code = await new Promise<number>((resolve) => {
    const child = spawn(argv[0]!, argv.slice(1), { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
      out.write(d);
    });
    child.stderr.on("data", (d: Buffer) => out.write(d));
    child.on("error", (err) => {
      out.write(`${err.message}\n`);
      resolve(127);
    });
    child.on("close", (c) => resolve(c ?? 1));
  });
  await new Promise<void>((r) => out.end(r));
  if (code !== 0) throw new StepFailed(`${label} exited ${code}`);
  return stdout;
}

function goMod(name: string, spec: Spec, staging: Record<string, string>): string {
  const req = Object.entries(spec.require).map(([m, v]) => `\t${m} ${v}`);
  const rep = [
    ...Object.entries(spec.replace ?? {}).map(([m, to]) => `\t${m} => ${to}`),
    ...Object.entries(staging).map(([m, v]) => `\t${m} => ${m} ${v}`),
  ];
  return [`module kit-toolchain/${name}`, "", `go ${manifest.go}`, "", "require (", ...req, ")", ...(rep.length ? ["", "replace (", ...rep, ")"] : []), ""].join("\n");
}

async function moduleDir(mod: string, version: string, src: string, log: string, nice: number): Promise<{ dir: string; goMod: string }> {
  const json = await run(log, "go mod download", ["go", "mod", "download", "-json", `${mod}@${version}`], src, goEnv(), nice);
  const info = JSON.parse(json) as { Dir: string; GoMod: string };
  return { dir: info.Dir, goMod: info.GoMod };
}

async function buildTool(name: string, spec: Spec, nice: number): Promise<void> {
  const dir = toolDir(name, spec);
  const src = join(dir, "src");
  const log = join(dir, "build.log");
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(src, { recursive: true });
  const step = async (label: string, fn: () => Promise<unknown>) => {
    const t0 = Date.now();
    process.stdout.write(`[toolchain] ${name} ${spec.version}: ${label} …\n`);
    try {
      await fn();
    } catch (err) {
      throw new StepFailed(`${name}/${label}: ${(err as Error).message}; log: ${log}`);
    }
    process.stdout.write(`[toolchain] ${name}: ${label} done in ${Math.round((Date.now() - t0) / 1000)} s\n`);
  };

  let staging: Record<string, string> = {};
  writeFileSync(join(src, "go.mod"), goMod(name, spec, staging));
  if (spec.replaceStagingWith) {
    await step("read staging modules", async () => {
      const [mod, version] = Object.entries(spec.require)[0]!;
      const { goMod: gm } = await moduleDir(mod, version, src, log, nice);
      const names = [...readFileSync(gm, "utf8").matchAll(/^\s*(k8s\.io\/[a-z0-9-]+) => \.\/staging/gm)].map((m) => m[1]!);
      staging = Object.fromEntries(names.map((m) => [m, spec.replaceStagingWith!]));
      writeFileSync(join(src, "go.mod"), goMod(name, spec, staging));
    });
  }
  if (spec.mainSource) {
    writeFileSync(join(src, "main.go"), readFileSync(join(HERE, spec.mainSource), "utf8"));
  }
  if (spec.generatedSchema) {
    await step("generate provider schema", async () => {
      const [mod, version] = Object.entries(spec.require)[0]!;
      const { dir: modRoot } = await moduleDir(mod, version, src, log, nice);
      const rel = spec.generatedSchema!.slice(mod.length + 1);
      const main = join(src, rel);
      mkdirSync(main, { recursive: true });
      mkdirSync(join(src, "gen"), { recursive: true });
      for (const f of ["main.go", "schema.json", "terraform-mapping.json"]) cpSync(join(modRoot, rel, f), join(main, f));
      cpSync(join(modRoot, rel, "generate.go"), join(src, "gen", "generate.go"));
      for (const f of [join(main, "main.go"), join(main, "schema.json"), join(main, "terraform-mapping.json"), join(src, "gen", "generate.go")]) chmodSync(f, 0o644);
      writeFileSync(join(main, "main.go"), readFileSync(join(main, "main.go"), "utf8").replace(/^\/\/go:generate.*$/gm, ""));
      await run(log, "go mod tidy", ["go", "mod", "tidy"], src, goEnv(), nice);
      await run(log, "schema generator", ["go", "run", "../../gen/generate.go"], main, { ...goEnv(), VERSION: spec.pluginVersion ?? "" }, nice);
    });
  }
  const imports = Object.values(spec.packages).filter((p) => !p.startsWith("."));
  if (imports.length) {
    writeFileSync(join(src, "tools.go"), `//go:build tools\n\npackage tools\n\nimport (\n${imports.map((p) => `\t_ "${p}"`).join("\n")}\n)\n`);
  }
  await step("go mod tidy", () => run(log, "go mod tidy", ["go", "mod", "tidy"], src, goEnv(), nice));
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  const ldflags = `-s -w ${spec.ldflags ?? ""}`.trim();
  await step(`go build ${Object.keys(spec.packages).join(", ")}`, () =>
    run(log, "go build", ["go", "build", "-trimpath", "-ldflags", ldflags, "-o", `${bin}/`, ...Object.values(spec.packages)], src, goEnv(), nice),
  );
  for (const b of Object.keys(spec.packages)) {
    if (!existsSync(join(bin, b))) throw new StepFailed(`${name}/go build: ${b} was not produced; log: ${log}`);
  }
  writeFileSync(join(dir, ".complete"), JSON.stringify({ version: spec.version, builtAt: new Date().toISOString() }) + "\n");
}

export async function buildToolchain(only: string[] | undefined, nice: number): Promise<void> {
  const names = only ?? Object.keys(manifest.tools);
  for (const n of names) if (!manifest.tools[n]) throw new Error(`toolchain: --only names "${n}", not in toolchain.json (${Object.keys(manifest.tools).join(", ")})`);
  const lane = async (which: string) => {
    for (const name of names.filter((n) => manifest.tools[n]!.lane === which)) {
      const spec = manifest.tools[name]!;
      if (existsSync(join(toolDir(name, spec), ".complete"))) {
        process.stdout.write(`[toolchain] ${name} ${spec.version}: cached\n`);
        continue;
      }
      const t0 = Date.now();
      await buildTool(name, spec, nice);
      process.stdout.write(`[toolchain] ${name} ${spec.version}: built in ${Math.round((Date.now() - t0) / 1000)} s\n`);
    }
  };
  await Promise.all([lane("cluster"), lane("engine")]);
}

async function main(argv: string[]): Promise<void> {
  const cmd = argv[0] && !argv[0].startsWith("--") ? argv.shift()! : "build";
  const flag = (f: string) => {
    const i = argv.indexOf(f);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  if (cmd === "status") {
    const st = toolStatus();
    if (argv.includes("--json")) console.log(JSON.stringify({ dir: toolchainDir(), tools: st }, null, 2));
    else for (const t of st) console.log(`${t.built ? "built  " : "missing"} ${t.tool} ${t.version}  ${t.dir}`);
    return;
  }
  if (cmd !== "build") throw new Error(`toolchain: unknown command "${cmd}" (build | status)`);
  const only = flag("--only")?.split(",").filter(Boolean);
  const nice = Number(flag("--nice") ?? "10");
  await buildToolchain(only, nice);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof StepFailed ? `[toolchain] FAILED ${err.message}` : (err as Error).message);
    process.exit(1);
  });
}
