/**
 * Optionally builds the kit's two images with Docker BuildKit (@pulumi/docker-build) as part of
 * `pulumi up`, and hands the pods the digest-pinned references of what it pushed.
 * Registry credentials come from the local Docker login (`docker login <registry>`).
 */
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as dockerBuild from "@pulumi/docker-build";
import * as pulumi from "@pulumi/pulumi";

/** The repository root: the build context of both Dockerfiles. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

export interface KitImagesArgs {
  /** Tags to build, e.g. ghcr.io/acme/copilot-cli:1.0.102 (the stack's `images` config). */
  cli: string;
  gateway: string;
  /** Push to the registry named in each tag; false = load into the local Docker daemon. */
  push: boolean;
  platforms?: dockerBuild.Platform[];
}

export class KitImages extends pulumi.ComponentResource {
  /** What pods should run: `tag@sha256:…` when pushed, else the tag. */
  readonly cli: pulumi.Output<string>;
  readonly gateway: pulumi.Output<string>;

  constructor(name: string, args: KitImagesArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:k8s:KitImages", name, {}, opts);
    const image = (which: "cli" | "gateway") =>
      new dockerBuild.Image(
        `${name}-${which}`,
        {
          context: { location: REPO_ROOT },
          dockerfile: { location: join(REPO_ROOT, "images", which, "Dockerfile") },
          tags: [args[which]],
          platforms: args.platforms,
          push: args.push,
          // Without a push the image must land somewhere a local cluster can load it from.
          exports: args.push ? undefined : [{ docker: {} }],
        },
        { parent: this },
      );
    const cli = image("cli");
    const gateway = image("gateway");
    this.cli = args.push ? cli.ref : pulumi.output(args.cli);
    this.gateway = args.push ? gateway.ref : pulumi.output(args.gateway);
    this.registerOutputs({ cli: this.cli, gateway: this.gateway });
  }
}
