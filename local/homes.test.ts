import { lstatSync, mkdtempSync, readlinkSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { prepareHome, sharedStateDir } from "./homes.js";

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), "homes-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("prepareHome", () => {
  it("gives every shared-storage server its own home with session-state linked to the shared folder", () => {
    const runDir = scratch();
    const layout = { runDir, sharedState: true, sharedHome: false };
    const a = prepareHome(layout, "cli-0");
    const b = prepareHome(layout, "cli-1");
    expect(a).not.toBe(b);
    for (const home of [a, b]) {
      expect(lstatSync(join(home, "session-state")).isSymbolicLink()).toBe(true);
      expect(readlinkSync(join(home, "session-state"))).toBe(sharedStateDir(runDir));
    }
    // A file written through one home is the other's too: one per-session folder, two homes.
    writeFileSync(join(a, "session-state", "x"), "1");
    expect(realpathSync(join(b, "session-state", "x"))).toBe(join(realpathSync(sharedStateDir(runDir)), "x"));
    // Preparing again (a restart) keeps the link.
    expect(prepareHome(layout, "cli-0")).toBe(a);
  });

  it("keeps other topologies' homes plain, and the negative control on one home", () => {
    const runDir = scratch();
    const sticky = prepareHome({ runDir, sharedState: false, sharedHome: false }, "cli-0");
    expect(() => lstatSync(join(sticky, "session-state"))).toThrow();
    const control = { runDir, sharedState: true, sharedHome: true };
    expect(prepareHome(control, "cli-0")).toBe(prepareHome(control, "cli-1"));
  });
});
