/**
 * The kit's images, built here with podman from the same Dockerfiles a user builds with Docker, and
 * imported into the cluster's containerd (there is no registry to pull from).
 *   npm run images -- build [--tag T] [--json]        build what changed (tags are content hashes)
 *   npm run images -- import [--containerd-socket S]  copy them into the node (namespace k8s.io)
 *   npm run images -- status [--json]                 which images exist, under which refs, how big
 * Each image is tagged with a hash of its inputs, so a changed Dockerfile, lock file or source is a
 * new tag (and a new pod template), and also `:local`, the tag the local stack files name.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { createWriteStream, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { HELPER_IMAGE } from "./addons.js";
import { DEBIAN_IMAGE, ensureBaseImages, NODE_IMAGE } from "./base-images.js";
import { parseImagesArgs } from "./images-args.js";
import { paths } from "./layout.js";
import { PAUSE_IMAGE } from "./node-config.js";
import { PODMAN_DIR, podman, podmanEnv } from "./podman.js";

const ROOT = resolve(fileURLToPath(import.meta.url), "../../..");

/** Each kit image: its Dockerfile's folder, the base it starts from, and the sources it copies. */
export const KIT_IMAGES = {
  cli: { repo: "localhost/copilot-cli", base: NODE_IMAGE, buildArg: "NODE_IMAGE", inputs: ["package.json", "package-lock.json", "tsconfig.json", "gateway/probe.ts", "images"] },
  gateway: { repo: "localhost/copilot-gateway", base: NODE_IMAGE, buildArg: "NODE_IMAGE", inputs: ["package.json", "package-lock.json", "tsconfig.json", "topology", "gateway", "images"] },
  redis: { repo: "localhost/kit-redis", base: DEBIAN_IMAGE, buildArg: "BASE_IMAGE", inputs: ["images/redis"] },
} as const;
export type KitImage = keyof typeof KIT_IMAGES;
export type KitImageRefs = Record<KitImage, string>;

function files(root: string, path: string): string[] {
  const full = join(root, path);
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full).sort().flatMap((f) => files(root, join(path, f)));
}

/** A hash of everything the image is built from: its inputs (tests aside) and its base image. */
export function contentTag(image: KitImage, baseId: string, root = ROOT): string {
  const h = createHash("sha256").update(baseId);
  for (const f of KIT_IMAGES[image].inputs.flatMap((p) => files(root, p)).filter((f) => !f.endsWith(".test.ts"))) {
    h.update(`\0${f}\0`).update(readFileSync(join(root, f)));
  }
  return h.digest("hex").slice(0, 12);
}

async function podmanBuild(image: KitImage, refs: string[], log: string): Promise<void> {
  const npmrc = join(PODMAN_DIR, "build-npmrc");
  // TLS to the registries may be re-signed: npm in the build trusts the host's CA bundle, mounted
  // for RUN steps only (never part of an image layer). RUN steps use the host's network: podman's
  // default bridge network would leave a cni-podman0 bridge, CNI firewall chains and ip_forward=1.
  writeFileSync(npmrc, "cafile=/run/host-ca/ca-certificates.crt\n");
  const spec = KIT_IMAGES[image];
  const args = ["build", "--pull=never", "--layers", "--network", "host", "--format", "docker", "--build-arg", `${spec.buildArg}=${spec.base}`,
    "-v", "/etc/ssl/certs:/run/host-ca:ro", "-v", `${npmrc}:/root/.npmrc:ro`,
    "-f", `images/${image}/Dockerfile`, ...(image === "redis" ? [] : ["--ignorefile", `images/${image}/Dockerfile.dockerignore`]),
    ...refs.flatMap((r) => ["-t", r]), "."];
  const out = createWriteStream(log);
  const code = await new Promise<number>((res) => {
    const child = spawn("nice", ["-n", "5", "podman", ...args], { cwd: ROOT, env: podmanEnv(), stdio: ["ignore", "pipe", "pipe"] });
    child.stdout.pipe(out, { end: false });
    child.stderr.pipe(out, { end: false });
    child.on("close", (c) => res(c ?? 1));
  });
  out.end();
  if (code !== 0) throw new Error(`images: building ${image} failed (podman exit ${code}); log: ${log}`);
}

/**
 * Builds the kit images whose content tag does not exist yet; returns their refs. With `tag`, the
 * refs are `<repo>:<tag>`, pointed at the current content (built under its content tag first).
 */
export async function buildImages(opts: { log?: (l: string) => void; tag?: string } = {}): Promise<KitImageRefs> {
  const log = opts.log ?? ((l: string) => console.log(l));
  ensureBaseImages(log);
  const logs = join(PODMAN_DIR, "logs");
  mkdirSync(logs, { recursive: true });
  const refs = {} as KitImageRefs;
  for (const image of Object.keys(KIT_IMAGES) as KitImage[]) {
    const spec = KIT_IMAGES[image];
    const ref = `${spec.repo}:${contentTag(image, podman(["image", "inspect", "--format", "{{.Id}}", spec.base]).trim())}`;
    refs[image] = opts.tag ? `${spec.repo}:${opts.tag}` : ref;
    if (podmanImageId(ref)) {
      podman(["tag", ref, `${spec.repo}:local`, refs[image]]);
      log(`[images] ${refs[image]} is up to date`);
      continue;
    }
    const t = Date.now();
    const buildLog = join(logs, `${image}.log`);
    log(`[images] building ${refs[image]} (log: ${buildLog}) …`);
    await podmanBuild(image, [...new Set([ref, refs[image], `${spec.repo}:local`])], buildLog);
    log(`[images] ${refs[image]} built in ${Math.round((Date.now() - t) / 1000)} s`);
  }
  return refs;
}

function podmanImageId(ref: string): string | undefined {
  try {
    return podman(["image", "inspect", "--format", "{{.Id}}", ref]).trim();
  } catch {
    return undefined;
  }
}

/** The images every node needs before any pod runs. */
export function nodeImages(): string[] {
  return [PAUSE_IMAGE, HELPER_IMAGE];
}

/** A second name for an image (a new pod template for Kubernetes, the same content). */
export function retagImage(ref: string, suffix: string): string {
  const next = `${ref.slice(0, ref.lastIndexOf(":"))}:${ref.slice(ref.lastIndexOf(":") + 1)}-${suffix}`;
  podman(["tag", ref, next]);
  return next;
}

const IMAGE_ID_LABEL = "copilot-scale-kit.image-id";

/**
 * Copies images into a containerd (namespace k8s.io), skipping those it already has with the same
 * content (a label carries podman's image id). A failure names the image and keeps ctr's output.
 */
export async function importImages(socket: string, refs: string[], log: (l: string) => void = () => undefined): Promise<void> {
  const ctr = (args: string[]) => execFileSync("ctr", ["--address", socket, "-n", "k8s.io", ...args], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], maxBuffer: 64 * 1024 * 1024 });
  mkdirSync(join(PODMAN_DIR, "tmp"), { recursive: true });
  const archive = join(PODMAN_DIR, "tmp", "import.tar");
  const listed = () => ctr(["images", "ls"]).split("\n");
  try {
    for (const ref of refs) {
      const id = podmanImageId(ref);
      if (!id) throw new Error(`images: ${ref} is not built (fix: npm run images -- build)`);
      const label = `${IMAGE_ID_LABEL}=${id}`;
      const lines = listed();
      if (lines.some((l) => l.startsWith(`${ref} `) && l.includes(label))) {
        log(`[images] ${ref} already in containerd`);
        continue;
      }
      const t = Date.now();
      try {
        // The same content under another name (a `:local` alias): a new name in containerd, no copy.
        const same = lines.find((l) => l.includes(label))?.split(" ")[0];
        if (same) ctr(["images", "tag", "--force", same, ref]);
        else {
          podman(["save", "--format", "oci-archive", "-o", archive, ref]);
          ctr(["images", "import", "--base-name", ref.slice(0, ref.lastIndexOf(":")), archive]);
        }
        ctr(["images", "label", ref, label]);
      } catch (err) {
        const e = err as { stderr?: string; message: string };
        const logFile = join(PODMAN_DIR, "logs", "import.log");
        mkdirSync(join(PODMAN_DIR, "logs"), { recursive: true });
        writeFileSync(logFile, `${ref} -> ${socket}\n${e.stderr ?? ""}\n${e.message}\n`);
        throw new Error(`images: importing ${ref} into ${socket} failed; log: ${logFile}`);
      }
      log(`[images] ${ref} imported in ${Math.round((Date.now() - t) / 1000)} s`);
    }
  } finally {
    rmSync(archive, { force: true });
  }
}

/** Every image the kit makes: exists or not, its id and size. Cheap: no build. */
export function imagesStatus(): { ref: string; built: boolean; id?: string; sizeBytes?: number }[] {
  const kit = (Object.keys(KIT_IMAGES) as KitImage[]).map((image) => {
    const base = podmanImageId(KIT_IMAGES[image].base);
    return base ? `${KIT_IMAGES[image].repo}:${contentTag(image, base)}` : `${KIT_IMAGES[image].repo}:<base ${KIT_IMAGES[image].base} missing>`;
  });
  return [NODE_IMAGE, DEBIAN_IMAGE, ...nodeImages(), ...kit].map((ref) => {
    const id = podmanImageId(ref);
    if (!id) return { ref, built: false };
    return { ref, built: true, id: id.slice(0, 12), sizeBytes: Number(podman(["image", "inspect", "--format", "{{.Size}}", ref]).trim()) };
  });
}

async function main(argv: string[]): Promise<void> {
  const args = parseImagesArgs(argv);
  const quiet = args.json ? () => undefined : undefined;
  if (args.cmd === "status") {
    const rows = imagesStatus();
    if (args.json) console.log(JSON.stringify(rows, null, 2));
    else for (const r of rows) console.log(`${r.built ? "built  " : "missing"} ${r.ref}${r.sizeBytes ? `  ${Math.round(r.sizeBytes / 1e6)} MB` : ""}`);
    return;
  }
  const refs = await buildImages({ log: quiet, tag: args.tag });
  if (args.cmd === "import") {
    const socket = args.containerdSocket ?? paths.containerdSocket;
    const local = Object.values(refs).map((r) => `${r.slice(0, r.lastIndexOf(":"))}:local`);
    const t = Date.now();
    await importImages(socket, [...nodeImages(), ...Object.values(refs), ...local], args.json ? undefined : (l) => console.log(l));
    if (!args.json) console.log(`[images] imported into ${socket} (namespace k8s.io) in ${Math.round((Date.now() - t) / 1000)} s`);
  }
  console.log(args.json ? JSON.stringify(refs, null, 2) : Object.values(refs).join("\n"));
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error((err as Error).message);
    process.exit(1);
  });
}


