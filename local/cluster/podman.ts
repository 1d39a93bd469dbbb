/**
 * podman and buildah with the kit's own storage and configuration (never the host's defaults), so
 * the images the cluster uses live in one folder that can be removed. No CAP_SYS_RESOURCE in this
 * VM: ulimits are explicit; PID 1 is not systemd: cgroupfs; crun cannot run on hybrid cgroups: runc.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export const PODMAN_DIR = process.env.KIT_PODMAN_DIR ?? join(homedir(), ".cache", "copilot-scale-kit", "podman");

export function podmanEnv(): NodeJS.ProcessEnv {
  const storage = join(PODMAN_DIR, "storage.conf");
  const containers = join(PODMAN_DIR, "containers.conf");
  const config = [
    "[containers]",
    'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]',
    "[engine]",
    'cgroup_manager = "cgroupfs"',
    'events_logger = "file"',
    `events_logfile_path = "${join(PODMAN_DIR, "events.log")}"`,
    `tmp_dir = "${join(PODMAN_DIR, "tmp")}"`,
    'runtime = "runc"',
    // Network configs in the kit's folder, not /etc/cni/net.d (builds use the host network anyway).
    "[network]",
    `network_config_dir = "${join(PODMAN_DIR, "cni")}"`,
    "",
  ].join("\n");
  // Rewritten when it differs, so a store made by an older kit gets the current settings.
  if (!existsSync(containers) || readFileSync(containers, "utf8") !== config) {
    mkdirSync(join(PODMAN_DIR, "tmp"), { recursive: true });
    mkdirSync(join(PODMAN_DIR, "cni"), { recursive: true });
    writeFileSync(storage, `[storage]\ndriver = "overlay"\nrunroot = "${join(PODMAN_DIR, "run")}"\ngraphroot = "${join(PODMAN_DIR, "graph")}"\n`);
    writeFileSync(containers, config);
  }
  return { ...process.env, CONTAINERS_STORAGE_CONF: storage, CONTAINERS_CONF: containers };
}

export function podman(args: string[], opts: { cmd?: "podman" | "buildah"; cwd?: string } = {}): string {
  return execFileSync(opts.cmd ?? "podman", args, { env: podmanEnv(), cwd: opts.cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
}

export function imageExists(ref: string): boolean {
  try {
    podman(["image", "exists", ref]);
    return true;
  } catch {
    return false;
  }
}

/** Commits a folder as a single-layer image (`buildah from scratch` + copy). */
export function commitFolder(dir: string, ref: string, config: string[]): void {
  const c = podman(["from", "scratch"], { cmd: "buildah" }).trim();
  try {
    podman(["copy", c, `${dir}/.`, "/"], { cmd: "buildah" });
    if (config.length) podman(["config", ...config, c], { cmd: "buildah" });
    podman(["commit", "-q", c, ref], { cmd: "buildah" });
  } finally {
    podman(["rm", c], { cmd: "buildah" });
  }
}
