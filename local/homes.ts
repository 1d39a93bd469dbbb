/**
 * Where each local CLI server keeps its state. Every server has a COPILOT_HOME of its own (its
 * SQLite session-store.db with -wal/-shm, settings.json.lock, logs and their lock), so no database
 * or lock file is opened by two CLI processes. shared-storage servers see one shared `session-state/`
 * (the per-session folders, as on an RWX volume) through a symlink in their home: the CLI resumes a
 * session from its folder alone, without a row in its own database (docs/shared-storage.md).
 */
import { lstatSync, mkdirSync, symlinkSync } from "node:fs";
import { join } from "node:path";

/** `--unsafe shared-home`: the layout before issue 13, every server on one home (negative control). */
export const SHARED_HOME = "shared-home";

export interface HomeLayout {
  runDir: string;
  /** shared-storage: servers share the per-session state. */
  sharedState: boolean;
  /** Negative control only: one COPILOT_HOME for every server. */
  sharedHome: boolean;
}

/** The shared per-session state folder (the RWX volume's role on the local platform). */
export function sharedStateDir(runDir: string): string {
  return join(runDir, "shared-volume", "session-state");
}

/** Creates (once) and returns the COPILOT_HOME of server `id`. */
export function prepareHome(layout: HomeLayout, id: string): string {
  if (layout.sharedState && layout.sharedHome) return join(layout.runDir, "shared-home");
  const home = join(layout.runDir, id, "home");
  mkdirSync(home, { recursive: true });
  if (!layout.sharedState) return home;
  const shared = sharedStateDir(layout.runDir);
  mkdirSync(shared, { recursive: true });
  const link = join(home, "session-state");
  if (!exists(link)) symlinkSync(shared, link, "dir");
  return home;
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
