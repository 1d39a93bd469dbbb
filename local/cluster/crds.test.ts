/**
 * The CRD sources: names derived from file names match the definitions' own metadata.name (so `up`
 * waits for the right objects), and a download error names the module rather than passing silently.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CRD_SOURCES, crdFiles, crdNames, parseDownloads } from "./crds.js";

describe("exposure and monitoring CRDs", () => {
  it("downloads every pinned definition, and each file's kind and name are what up waits for", () => {
    const files = crdFiles();
    const names = crdNames();
    expect(files).toHaveLength(6);
    expect(names).toEqual(expect.arrayContaining(["httproutes.gateway.networking.k8s.io", "servicemonitors.monitoring.coreos.com", "certificates.cert-manager.io"]));
    files.forEach((file, i) => {
      const text = readFileSync(file, "utf8");
      expect(text).toMatch(/^kind: CustomResourceDefinition$/m);
      expect(text).toMatch(new RegExp(`^  name: ${names[i]!.replace(/\./g, "\\.")}$`, "m"));
    });
  }, 120_000);

  it("reads go's back-to-back JSON objects and refuses a module that failed", () => {
    const ok = '{\n\t"Path": "a.example/x",\n\t"Version": "v1.0.0",\n\t"Dir": "/m/a"\n}\n{\n\t"Path": "b.example/y",\n\t"Version": "v2.0.0",\n\t"Dir": "/m/b"\n}\n';
    expect(parseDownloads(ok)).toEqual([{ Path: "a.example/x", Dir: "/m/a" }, { Path: "b.example/y", Dir: "/m/b" }]);
    const failed = '{\n\t"Path": "c.example/z",\n\t"Version": "v9.9.9",\n\t"Error": "not found"\n}\n';
    expect(() => parseDownloads(failed)).toThrow(/c\.example\/z@v9\.9\.9: not found/);
  });

  it("refuses a file that is not named <group>_<plural>.yaml", () => {
    expect(() => crdNames([{ module: "m", version: "v1", files: ["crds/certificates.yaml"] }])).toThrow(/<group>_<plural>/);
    expect(CRD_SOURCES.every((s) => /^v\d+\.\d+\.\d+$/.test(s.version))).toBe(true);
  });
});
