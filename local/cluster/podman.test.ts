/** podman's configuration: the kit's own folder, never the host's defaults. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, vi } from "vitest";

describe("podman configuration", () => {
  it("keeps storage, runtime state and network configs under KIT_PODMAN_DIR, and replaces a stale config", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kit-podman-"));
    const before = process.env.KIT_PODMAN_DIR;
    process.env.KIT_PODMAN_DIR = dir;
    vi.resetModules();
    try {
      const { podmanEnv } = await import("./podman.js");
      writeFileSync(join(dir, "containers.conf"), "[engine]\n"); // as an older kit left it
      const env = podmanEnv();
      expect(env.CONTAINERS_CONF).toBe(join(dir, "containers.conf"));
      expect(env.CONTAINERS_STORAGE_CONF).toBe(join(dir, "storage.conf"));
      const conf = readFileSync(join(dir, "containers.conf"), "utf8");
      expect(conf).toContain(`network_config_dir = "${join(dir, "cni")}"`);
      expect(conf).toContain('cgroup_manager = "cgroupfs"');
      expect(conf).toContain('runtime = "runc"');
      expect(conf).toMatch(/default_ulimits = \["nofile=\d+:\d+", "nproc=\d+:\d+"\]/);
      expect(readFileSync(join(dir, "storage.conf"), "utf8")).toContain(`graphroot = "${join(dir, "graph")}"`);
    } finally {
      if (before === undefined) delete process.env.KIT_PODMAN_DIR;
      else process.env.KIT_PODMAN_DIR = before;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
