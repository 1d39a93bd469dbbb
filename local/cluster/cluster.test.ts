/** The pure parts of the real-cluster path: manifests, tags, mirrors, errors. Cluster runs: npm run test:cluster. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseDebianMirror } from "./base-images.js";
import { contentTag } from "./images.js";
import { manifest, toolBinary, toolStatus } from "./toolchain.js";

describe("toolchain manifest", () => {
  it("pins every tool the cluster and the engine run, each with packages and a reason", () => {
    expect(Object.keys(manifest.tools).sort()).toEqual(["coredns", "kube-router", "kubernetes", "local-path-provisioner", "pulumi", "pulumi-resource-kubernetes"]);
    for (const [name, spec] of Object.entries(manifest.tools)) {
      expect(Object.keys(spec.packages).length, name).toBeGreaterThan(0);
      expect(spec.why.length, name).toBeGreaterThan(20);
    }
    expect(Object.keys(manifest.tools.kubernetes!.packages)).toEqual(["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy", "kubectl"]);
  });

  it("says how to build a tool that is missing from the cache", () => {
    const before = process.env.KIT_TOOLCHAIN_DIR;
    process.env.KIT_TOOLCHAIN_DIR = mkdtempSync(join(tmpdir(), "kit-toolchain-"));
    try {
      expect(() => toolBinary("pulumi")).toThrow(/pulumi v3\.274\.1 is not built; run: npm run toolchain -- --only pulumi/);
      expect(() => toolBinary("nope")).toThrow(/no tool "nope"/);
      expect(toolStatus().every((t) => !t.built)).toBe(true);
    } finally {
      rmSync(process.env.KIT_TOOLCHAIN_DIR!, { recursive: true, force: true });
      if (before === undefined) delete process.env.KIT_TOOLCHAIN_DIR;
      else process.env.KIT_TOOLCHAIN_DIR = before;
    }
  });
});

describe("images", () => {
  it("tag an image by its inputs and its base: stable, and new when the base changes", () => {
    const a = contentTag("gateway", "base-1");
    expect(a).toMatch(/^[0-9a-f]{12}$/);
    expect(contentTag("gateway", "base-1")).toBe(a);
    expect(contentTag("gateway", "base-2")).not.toBe(a);
    expect(contentTag("cli", "base-1")).not.toBe(a);
  });

  it("find the Debian mirror in apt sources, skipping comments (a snapshot URL in a comment is not the mirror)", () => {
    const deb822 = "Types: deb\n# http://snapshot.debian.org/archive/debian/20250520T000000Z\nURIs: http://deb.debian.org/debian\nSuites: bookworm\n";
    expect(parseDebianMirror(deb822)).toBe("http://deb.debian.org/debian");
    expect(parseDebianMirror("deb [arch=amd64] https://mirror.example/debian/ bookworm main\n")).toBe("https://mirror.example/debian");
    expect(parseDebianMirror("deb https://packages.cloud.google.com/apt cloud-sdk-bookworm main\n")).toBeUndefined();
  });
});
