/**
 * The local platform runs the gateway as production does: the esbuild bundle (images/bundle.ts) on
 * plain Node, not the TypeScript sources through tsx (which costs tens of MiB and start-up time).
 * Built on demand into node_modules/.cache and rebuilt when any of its inputs changed, so a fresh
 * clone's `npm start` and an edited gateway both just work.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bundle } from "../images/bundle.js";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
// Inside the project's node_modules, so the bundle resolves the CLI and SDK packages it leaves out.
const OUT_DIR = join(ROOT, "node_modules", ".cache", "copilot-scale-kit");
export const GATEWAY_BUNDLE = join(OUT_DIR, "gateway.js");
const INPUTS = join(OUT_DIR, "gateway.inputs.json");

/** True when the bundle exists and no input is newer than it. */
function fresh(): boolean {
  try {
    const built = statSync(GATEWAY_BUNDLE).mtimeMs;
    const inputs = JSON.parse(readFileSync(INPUTS, "utf8")) as string[];
    return inputs.length > 0 && inputs.every((f) => statSync(f).mtimeMs <= built);
  } catch {
    return false;
  }
}

let building: Promise<string> | undefined;

/** The path of an up-to-date gateway bundle, building it first when needed. */
export function ensureGatewayBundle(): Promise<string> {
  if (fresh()) return Promise.resolve(GATEWAY_BUNDLE);
  building ??= (async () => {
    mkdirSync(join(OUT_DIR, "chunks"), { recursive: true });
    // Built aside and moved in, chunks first and the entry last, each with a rename: platforms
    // starting in parallel never run a half-written file (chunk names are hashes of their content).
    const stage = mkdtempSync(join(OUT_DIR, "build-"));
    try {
      const inputs = await bundle("gateway", join(stage, "gateway.js"));
      for (const f of readdirSync(join(stage, "chunks"))) renameSync(join(stage, "chunks", f), join(OUT_DIR, "chunks", f));
      renameSync(join(stage, "package.json"), join(OUT_DIR, "package.json"));
      writeFileSync(join(stage, "inputs.json"), JSON.stringify(inputs));
      renameSync(join(stage, "gateway.js"), GATEWAY_BUNDLE);
      renameSync(join(stage, "inputs.json"), INPUTS);
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
    return GATEWAY_BUNDLE;
  })().finally(() => {
    building = undefined;
  });
  return building;
}
