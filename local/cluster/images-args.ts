/** The command line of `npm run images`: parsed and checked here so a typo is an error, not a default. */

export const IMAGES_USAGE =
  "usage: npm run images -- build [--tag T] [--json] | import [--containerd-socket S] [--tag T] [--json] | status [--json]";

export interface ImagesArgs {
  cmd: "build" | "import" | "status";
  json: boolean;
  /** Replaces the content-hash tag of the kit images (the base images keep their fixed names). */
  tag?: string;
  /** import only; the cluster's own containerd when absent. */
  containerdSocket?: string;
}

/** Docker's tag grammar: 1-128 of [A-Za-z0-9_.-], not starting with . or -. */
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function parseImagesArgs(argv: string[]): ImagesArgs {
  const [cmd, ...rest] = argv;
  if (cmd !== "build" && cmd !== "import" && cmd !== "status") {
    throw new Error(cmd === undefined ? IMAGES_USAGE : `images: unknown command "${cmd}"; ${IMAGES_USAGE}`);
  }
  const out: ImagesArgs = { cmd, json: false };
  for (let i = 0; i < rest.length; i++) {
    const flag = rest[i]!;
    if (flag === "--json") {
      out.json = true;
      continue;
    }
    if (flag !== "--tag" && flag !== "--containerd-socket") throw new Error(`images: unknown option "${flag}"; ${IMAGES_USAGE}`);
    const value = rest[++i];
    if (value === undefined || value.startsWith("--")) throw new Error(`images: ${flag} needs a value; ${IMAGES_USAGE}`);
    if (flag === "--tag") {
      if (cmd === "status") throw new Error(`images: status takes no --tag; ${IMAGES_USAGE}`);
      if (!TAG.test(value)) throw new Error(`images: --tag "${value}" is not a valid image tag (1-128 of A-Z a-z 0-9 _ . -, not starting with . or -)`);
      out.tag = value;
    } else {
      if (cmd !== "import") throw new Error(`images: --containerd-socket belongs to import; ${IMAGES_USAGE}`);
      out.containerdSocket = value;
    }
  }
  return out;
}
