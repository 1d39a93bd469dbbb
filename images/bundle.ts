/**
 * Bundles the gateway and the CLI probe into ESM files with esbuild, so the runtime images carry no
 * node_modules at all (in particular no Pulumi or Azure packages): the entry file, plus a `chunks/`
 * folder beside it with the code loaded by import() only when first needed.
 * Usage (from the repo root): tsx images/bundle.ts <gateway|probe> <outfile>
 */
import { writeFileSync } from "node:fs";
import { basename, dirname, extname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type BuildOptions } from "esbuild";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export const BUNDLES = {
  gateway: "gateway/main.ts",
  probe: "gateway/probe.ts",
} as const;
export type BundleName = keyof typeof BUNDLES;

/** How `name` is bundled into `outfile` (a test builds with these too, to read the module graph). */
export function bundleOptions(name: BundleName, outfile: string) {
  const ext = extname(outfile);
  return {
    absWorkingDir: ROOT,
    metafile: true,
    entryPoints: [join(ROOT, BUNDLES[name])],
    outdir: dirname(outfile),
    entryNames: basename(outfile, ext),
    outExtension: { ".js": ext },
    // Code reached through import() only goes to chunks of its own, read when first imported: V8
    // keeps every loaded script's whole source in memory, and the Kubernetes client is 2.1 MB of the
    // gateway's 5.2 MB (idle RSS 84.1 -> 79.4 MiB without it). Content-hashed names: rebuilds never clash.
    splitting: true,
    chunkNames: "chunks/[name]-[hash]",
    bundle: true,
    platform: "node",
    target: "node20",
    format: "esm",
    logLevel: "warning",
    // Without comments and spaces the source is half the size, and V8 keeps a script's whole source
    // in memory: 9.1 MB with comments, stored two bytes per character once one comment held a
    // character outside Latin-1. keepNames keeps function and class names for stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    keepNames: true,
    // The SDK imports koffi (a native FFI module) only for its in-process runtime host, which a
    // TCP client never uses; the SDK's platform packages are that runtime's binaries.
    alias: { koffi: join(ROOT, "images/koffi-unavailable.ts") },
    external: ["@github/copilot-sdk-*"],
    // Bundled CommonJS dependencies (pino, ioredis, ...) call require() on Node built-ins, and some
    // read __filename at run time (write-file-atomic names its temp files after it).
    banner: {
      js:
        "import { createRequire as __kitCreateRequire } from 'node:module'; import { fileURLToPath as __kitFileURLToPath } from 'node:url'; " +
        "const require = __kitCreateRequire(import.meta.url); const __filename = __kitFileURLToPath(import.meta.url);",
    },
  } satisfies BuildOptions;
}

/** Bundles `name` into `outfile` and `chunks/` beside it; returns the absolute paths of every input file (for staleness checks). */
export async function bundle(name: BundleName, outfile: string): Promise<string[]> {
  const result = await build(bundleOptions(name, outfile));
  // `node /app/gateway.js` must load the bundle as ESM.
  if (outfile.endsWith(".js")) writeFileSync(join(dirname(outfile), "package.json"), '{ "type": "module" }\n');
  return Object.keys(result.metafile.inputs).map((f) => resolve(ROOT, f));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [name, outfile] = process.argv.slice(2);
  if (!name || !(name in BUNDLES) || !outfile) {
    console.error(`usage: tsx images/bundle.ts <${Object.keys(BUNDLES).join("|")}> <outfile>`);
    process.exit(2);
  }
  await bundle(name as BundleName, resolve(outfile));
}
