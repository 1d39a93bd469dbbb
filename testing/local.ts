/**
 * Test fixtures from the local platform: one real CLI server (COPILOT_OFFLINE) against a mock
 * model of its own, and the process helpers conformance suites use on local targets. Tests reach
 * local/ through here, so no layer's code imports it the wrong way.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startCliServer, type CliServerHandle } from "../gateway/cli-process.js";
import { startMockModel } from "../local/mock-model.js";

export { startCliServer, type CliServerHandle } from "../gateway/cli-process.js";
export { startMockModel } from "../local/mock-model.js";
export { alive, freePort } from "../local/ports.js";
export { startIdentityTap, type IdentityTap } from "../local/identity-tap.js";

export const MOCK_MODEL = "mock-model";

export interface OfflineCli {
  cli: CliServerHandle;
  connectionToken: string;
  /** The mock model's OpenAI-compatible base URL (…/v1). */
  modelUrl: string;
  /** Stops the CLI and the model, and removes the CLI's home. */
  stop(): Promise<void>;
}

/** The CLI's COPILOT_HOME is a fresh temporary folder (`cli.home`). */
export async function startOfflineCli(connectionToken: string): Promise<OfflineCli> {
  const dir = mkdtempSync(join(tmpdir(), "csk-offline-cli-"));
  const model = await startMockModel({ modelName: MOCK_MODEL });
  try {
    const cli = await startCliServer({
      home: join(dir, "home"),
      connectionToken,
      env: { COPILOT_OFFLINE: "true", COPILOT_PROVIDER_BASE_URL: model.url, COPILOT_MODEL: MOCK_MODEL },
    });
    return {
      cli,
      connectionToken,
      modelUrl: model.url,
      stop: async () => {
        await cli.stop();
        await model.app.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await model.app.close();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
