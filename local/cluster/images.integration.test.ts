/**
 * The base images as built by `npm run images -- build`, checked in podman's kit store. Skipped, with
 * the reason, on a machine without podman or before a build (a build takes minutes; `npm test` must not).
 */
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { HELPER_IMAGE } from "./addons.js";
import { NODE_IMAGE, NODE_VERSION } from "./base-images.js";
import { imagesStatus } from "./images.js";
import { PAUSE_IMAGE } from "./node-config.js";
import { imageExists, podman } from "./podman.js";

function skipReason(): string | undefined {
  try {
    execFileSync("podman", ["--version"], { stdio: "ignore" });
  } catch {
    return "podman is not installed";
  }
  return imageExists(NODE_IMAGE) ? undefined : `${NODE_IMAGE} is not built in the kit's podman store (run: npm run images -- build)`;
}
const reason = skipReason();
if (reason) console.warn(`[images integration] skipped: ${reason}`);

// No network namespace needed: these containers only print, so no CNI bridge is created.
const run = (ref: string, args: string[]) => podman(["run", "--rm", "--network", "none", ref, ...args]).trim();

describe.skipIf(reason !== undefined)(`base images in podman${reason ? ` (skipped: ${reason})` : ""}`, () => {
  it("node base image runs the pinned Node and npm, with apt pointed at the Debian mirror", () => {
    expect(run(NODE_IMAGE, ["node", "--version"])).toBe(`v${NODE_VERSION}`);
    expect(run(NODE_IMAGE, ["npm", "--version"])).toMatch(/^\d+\.\d+\.\d+$/);
    expect(run(NODE_IMAGE, ["cat", "/etc/apt/sources.list.d/debian.sources"])).toMatch(/^URIs: https?:\/\/\S+\/debian$/m);
  });

  it("pause image starts /pause as an unprivileged user, and the helper has the tools the provisioner runs", () => {
    const config = JSON.parse(podman(["image", "inspect", "--format", "{{json .Config}}", PAUSE_IMAGE])) as { Entrypoint: string[]; User: string };
    expect(config.Entrypoint).toEqual(["/pause"]);
    expect(config.User).toBe("65535:65535");
    expect(run(PAUSE_IMAGE, ["-v"]).length).toBeGreaterThan(0);
    expect(run(HELPER_IMAGE, ["sh", "-c", "mkdir -p /tmp/x && chmod 0777 /tmp/x && rm -r /tmp/x && echo ok"])).toBe("ok");
  });

  it("status lists every base image as built", () => {
    const rows = imagesStatus();
    for (const ref of [NODE_IMAGE, PAUSE_IMAGE, HELPER_IMAGE]) expect(rows.find((r) => r.ref === ref)?.built, ref).toBe(true);
  });
});
