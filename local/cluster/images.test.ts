/** The pure parts of `npm run images`: its command line and the content tags a rolling update relies on. */
import { appendFileSync, cpSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseImagesArgs } from "./images-args.js";
import { contentTag, KIT_IMAGES } from "./images.js";

describe("images command line", () => {
  it("reads build, import and status with their options", () => {
    expect(parseImagesArgs(["build"])).toEqual({ cmd: "build", json: false });
    expect(parseImagesArgs(["build", "--tag", "v2.rolling", "--json"])).toEqual({ cmd: "build", json: true, tag: "v2.rolling" });
    expect(parseImagesArgs(["import", "--containerd-socket", "/tmp/c.sock"])).toEqual({ cmd: "import", json: false, containerdSocket: "/tmp/c.sock" });
    expect(parseImagesArgs(["status", "--json"])).toEqual({ cmd: "status", json: true });
  });

  it("refuses what it does not understand instead of guessing", () => {
    expect(() => parseImagesArgs([])).toThrow(/^usage: npm run images -- build/);
    expect(() => parseImagesArgs(["push"])).toThrow(/unknown command "push"/);
    expect(() => parseImagesArgs(["build", "--jsn"])).toThrow(/unknown option "--jsn"/);
    expect(() => parseImagesArgs(["import", "--containerd-socket"])).toThrow(/--containerd-socket needs a value/);
    expect(() => parseImagesArgs(["import", "--containerd-socket", "--json"])).toThrow(/--containerd-socket needs a value/);
    expect(() => parseImagesArgs(["build", "--containerd-socket", "/s"])).toThrow(/belongs to import/);
    expect(() => parseImagesArgs(["status", "--tag", "x"])).toThrow(/status takes no --tag/);
    expect(() => parseImagesArgs(["build", "--tag", "-bad"])).toThrow(/not a valid image tag/);
    expect(() => parseImagesArgs(["build", "--tag", "a/b"])).toThrow(/not a valid image tag/);
    expect(() => parseImagesArgs(["build", "--tag", "x".repeat(129)])).toThrow(/not a valid image tag/);
  });
});

describe("content tags", () => {
  // A copy of the inputs both kit Dockerfiles read, so a test can change them.
  const root = mkdtempSync(join(tmpdir(), "kit-image-inputs-"));
  const inputs = new Set([...KIT_IMAGES.cli.inputs, ...KIT_IMAGES.gateway.inputs]);
  for (const p of inputs) cpSync(p, join(root, p), { recursive: true });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it("equal the repository's own tag for an unchanged copy", () => {
    expect(contentTag("cli", "base", root)).toBe(contentTag("cli", "base"));
  });

  it("change with the Dockerfile, the lock file or a source file, and only for the images that read it", () => {
    const cli0 = contentTag("cli", "base", root);
    const gw0 = contentTag("gateway", "base", root);
    appendFileSync(join(root, "topology", "topologies.ts"), "\n// changed\n");
    expect(contentTag("cli", "base", root)).toBe(cli0); // the CLI image does not copy topology/
    const gw1 = contentTag("gateway", "base", root);
    expect(gw1).not.toBe(gw0);
    appendFileSync(join(root, "images", "cli", "Dockerfile"), "\n# changed\n");
    const cli1 = contentTag("cli", "base", root);
    expect(cli1).not.toBe(cli0);
    appendFileSync(join(root, "package-lock.json"), "\n");
    expect(contentTag("cli", "base", root)).not.toBe(cli1);
    expect(contentTag("gateway", "base", root)).not.toBe(gw1);
  });

  it("ignore test files, which no image contains", () => {
    const before = contentTag("gateway", "base", root);
    appendFileSync(join(root, "gateway", "extra.test.ts"), "// a test\n");
    expect(contentTag("gateway", "base", root)).toBe(before);
  });
});
