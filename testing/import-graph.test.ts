/** The import graph flows one way (testing/import-graph.ts has the rules), checked on the real tree. */
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { importGraph, importsOf, type ImportEdge, LAYERS, sourceFiles, wrongWayEdges } from "./import-graph.js";

const ROOT = join(import.meta.dirname, "..");

const edge = (from: string, to: string): ImportEdge => ({ from, to });
const names = (edges: readonly ImportEdge[]) => edges.map((e) => `${e.from} -> ${e.to}`);

describe("import graph", () => {
  const edges = importGraph(ROOT);

  it("reads every layer's files and their imports", () => {
    const files = sourceFiles(ROOT);
    for (const layer of Object.keys(LAYERS)) expect(files.some((f) => f.startsWith(`${layer}/`)), layer).toBe(true);
    // Hundreds of relative imports: an empty or tiny graph means the reader broke, not a clean tree.
    expect(edges.length).toBeGreaterThan(300);
  });

  it("has no wrong-way edge", () => {
    expect(wrongWayEdges(edges).map((e) => `${e.from} -> ${e.to}: ${e.reason}`)).toEqual([]);
  });

  it("keeps test support in one home", () => {
    const elsewhere = sourceFiles(ROOT).filter((f) => /(^|\/)testing\/|\.testing\.ts$/.test(f) && !f.startsWith("testing/"));
    expect(elsewhere).toEqual([]);
  });
});

// Negative controls: synthetic edges the checker must refuse, and look-alikes it must let stand.
describe("wrongWayEdges", () => {
  it.each([
    ["components/k8s/x.ts", "stacks/config.js"],
    ["components/k8s/x.ts", "scripts/load/config.js"],
    ["conformance/harness.ts", "local/tokens.js"],
    ["conformance/harness.ts", "gateway/app.js"],
    ["topology/target.ts", "gateway/errors.js"],
    ["topology/target.ts", "images/contract.js"],
    ["gateway/app.ts", "local/ports.js"],
    ["gateway/app.ts", "stacks/config.js"],
    ["gateway/app.test.ts", "components/k8s/meta.js"],
    ["local/platform.ts", "conformance/harness.js"],
    ["local/platform.ts", "scripts/load/run.js"],
    ["local/platform.ts", "stacks/config.js"],
    ["gateway/app.ts", "testing/pulumi-mocks.js"],
    ["stacks/kubernetes.ts", "testing/stack-files.js"],
    ["gateway/app.ts", "../outside.js"],
  ])("refuses %s -> %s", (from, to) => {
    expect(wrongWayEdges([edge(from, to)])).toHaveLength(1);
  });

  it.each([
    ["gateway/app.ts", "topology/index.js"],
    ["gateway/app.test.ts", "testing/redis.js"],
    ["conformance/suites/core.test.ts", "testing/mock-model.js"],
    ["stacks/kubernetes.ts", "components/k8s/index.js"],
    ["local/platform.ts", "gateway/cli-process.js"],
    ["scripts/bench/harness.ts", "local/platform.js"],
    ["testing/redis.ts", "local/redis-process.js"],
    ["topology/index.ts", "topology/target.js"],
  ])("lets %s -> %s stand", (from, to) => {
    expect(wrongWayEdges([edge(from, to)])).toEqual([]);
  });

  it("reads import forms a regular expression would miss or invent", () => {
    const text = [
      `import type { A } from "../stacks/config.js";`,
      `export * from "../local/ports.js";`,
      `const m = await import("../scripts/load/run.js");`,
      `// import { x } from "../local/commented.js";`,
      'const s = "import { y } from \'../local/in-a-string.js\'";',
      `import { z } from "zod";`,
    ].join("\n");
    expect(names(importsOf("gateway/x.ts", text))).toEqual([
      "gateway/x.ts -> stacks/config.js",
      "gateway/x.ts -> local/ports.js",
      "gateway/x.ts -> scripts/load/run.js",
    ]);
  });
});
