/**
 * The kit's import graph and the direction it must flow in. Imports are read with the TypeScript
 * compiler's own pre-processor (static imports, re-exports, dynamic import() and require()), so
 * comments and strings never count as edges. The layers and what each may import are data
 * (`LAYERS`); `wrongWayEdges` lists every edge that breaks them.
 */
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, sep } from "node:path";
import ts from "typescript";

/** One relative import: `from` imports `to` (both paths relative to the repository root, `/`-separated). */
export interface ImportEdge {
  from: string;
  to: string;
}

/**
 * What each top-level folder may import besides libraries (npm packages, node: builtins) and
 * itself. A folder not listed here (root files, docs/probes) is a leaf nobody imports and may
 * import anything. The gateway's public surface is its HTTP API; its types (config schema, target
 * descriptor) live in topology/, so conformance imports no gateway module at all.
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  topology: [],
  images: ["topology"],
  gateway: ["topology"],
  local: ["topology", "gateway", "images"],
  conformance: ["topology", "images"],
  components: ["topology", "images"],
  stacks: ["topology", "images", "components"],
  scripts: ["topology", "images", "gateway", "local", "conformance", "components", "stacks"],
  // The test-support home (mock runners, stack-file loaders, fixtures): it may reach anything, and
  // only tests may import it.
  testing: ["topology", "images", "gateway", "local", "conformance", "components", "stacks", "scripts"],
};

/** Where tests get their support from; test files of every layer may import it. */
export const TEST_SUPPORT = "testing";

const SOURCE = /\.(ts|mts|cts|js|mjs|cjs)$/;
const SKIP = new Set(["node_modules", ".local", "dist", "reports", ".git"]);

export function isTestFile(path: string): boolean {
  return /\.test\.(ts|mts|js)$/.test(path);
}

/** Every source file under `root` (repository-relative, `/`-separated), build output and dependencies left out. */
export function sourceFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
      if (SKIP.has(entry.name)) continue;
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && SOURCE.test(entry.name)) out.push(path);
    }
  };
  walk("");
  return out.sort();
}

/** The relative imports of one file's text; package imports are libraries and not edges. */
export function importsOf(from: string, text: string): ImportEdge[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles
    .map((f) => f.fileName)
    .filter((spec) => spec.startsWith("./") || spec.startsWith("../"))
    .map((spec) => ({ from, to: normalize(join(dirname(from), spec)).split(sep).join("/") }));
}

export function importGraph(root: string): ImportEdge[] {
  return sourceFiles(root).flatMap((f) => importsOf(f, readFileSync(join(root, f), "utf8")));
}

/** The top-level folder of a repository-relative path; "" for files at the root. */
export function layerOf(path: string): string {
  const i = path.indexOf("/");
  return i < 0 ? "" : path.slice(0, i);
}

/** Why an edge flows the wrong way, or undefined when it may stand. */
export function wrongWay(edge: ImportEdge): string | undefined {
  const from = layerOf(edge.from);
  const to = layerOf(edge.to);
  if (edge.to.startsWith("../")) return `${edge.to} is outside the repository`;
  if (to === TEST_SUPPORT && from !== TEST_SUPPORT && !isTestFile(edge.from)) return `only tests may import ${TEST_SUPPORT}/`;
  if (from === to) return undefined;
  const allowed = LAYERS[from];
  if (allowed === undefined) return undefined;
  if (allowed.includes(to) || (to === TEST_SUPPORT && isTestFile(edge.from))) return undefined;
  return `${from}/ may import only ${[...allowed, "itself"].join(", ")}${isTestFile(edge.from) ? ` and ${TEST_SUPPORT}/` : ""}`;
}

export function wrongWayEdges(edges: readonly ImportEdge[]): (ImportEdge & { reason: string })[] {
  return edges.flatMap((e) => {
    const reason = wrongWay(e);
    return reason === undefined ? [] : [{ ...e, reason }];
  });
}
