import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { readStackConfig } from "../stacks/config.js";
import { resolveOutput, runWithMocks, unwrapSecrets } from "./pulumi-mocks.js";
import { listStackFiles, loadStackFile } from "./stack-files.js";

describe("runWithMocks", () => {
  it("captures inputs, records secret paths and waits for late registrations", async () => {
    const run = await runWithMocks(
      async () => {
        const late = pulumi.output(new Promise<string>((resolve) => setTimeout(() => resolve("late-token-0123456789"), 50)));
        // Registered only after the value resolves: disconnect() must wait for it.
        const secret = new k8s.core.v1.Secret("s", { metadata: { name: "s" }, stringData: { token: pulumi.secret(late) } });
        return { name: secret.metadata.name, token: pulumi.secret(late) };
      },
      { config: {} },
    );
    const secret = run.resources.find((r) => r.type === "kubernetes:core/v1:Secret");
    // The provider SDK lifts secretness to the whole map.
    expect(secret?.secretPaths).toEqual(["stringData"]);
    const token = await resolveOutput(run.exports.token);
    expect(token.secret).toBe(true);
    expect((secret?.inputs.stringData as Record<string, string>).token).toBe("late-token-0123456789");
    expect(token.value).toBe("late-token-0123456789");
    expect(await resolveOutput(run.exports.name)).toEqual({ value: "s", secret: false });
  });

  it("fails instead of hanging on an output that never resolves", async () => {
    const never = pulumi.output(new Promise<string>(() => undefined));
    await expect(resolveOutput(never, 200)).rejects.toThrow(/did not finish within 200 ms/);
  });

  it("unwraps nested secret envelopes", () => {
    const env = { [pulumi.runtime.specialSigKey]: pulumi.runtime.specialSecretSig, value: "x" };
    expect(unwrapSecrets({ a: [{ b: env }] })).toEqual({ value: { a: [{ b: "x" }] }, secretPaths: ["a.0.b"] });
  });
});

describe("stack files and readStackConfig", () => {
  const schema = z.object({ topology: z.string(), servers: z.number(), images: z.object({ cli: z.string() }) });
  const dir = mkdtempSync(join(tmpdir(), "stackfiles-"));
  writeFileSync(
    join(dir, "Pulumi.demo.yaml"),
    "config:\n  copilot-scale-kit:topology: shared\n  copilot-scale-kit:servers: 3\n  copilot-scale-kit:images:\n    cli: c:1\n",
  );
  writeFileSync(join(dir, "Pulumi.secure.yaml"), "config:\n  copilot-scale-kit:githubToken:\n    secure: v1:abc\n");

  it("passes values the way the CLI does and parses them back", async () => {
    const file = loadStackFile(join(dir, "Pulumi.demo.yaml"));
    expect(file.stack).toBe("demo");
    expect(file.config["copilot-scale-kit:images"]).toBe('{"cli":"c:1"}');
    const run = await runWithMocks(async () => readStackConfig(schema), { config: file.config });
    expect(run.exports).toEqual({ topology: "shared", servers: 3, images: { cli: "c:1" } });
  });

  it("rejects unknown keys and names the fix", async () => {
    const config = { ...loadStackFile(join(dir, "Pulumi.demo.yaml")).config, "copilot-scale-kit:serverz": "2" };
    await expect(runWithMocks(async () => readStackConfig(schema), { config })).rejects.toThrow(
      /unknown stack config copilot-scale-kit:serverz .*pulumi config rm copilot-scale-kit:serverz/,
    );
  });

  it("names the key of an invalid value", async () => {
    const config = { ...loadStackFile(join(dir, "Pulumi.demo.yaml")).config, "copilot-scale-kit:servers": "many" };
    await expect(runWithMocks(async () => readStackConfig(schema), { config })).rejects.toThrow(/copilot-scale-kit:servers: .*pulumi config set/);
  });

  it("leaves ciphertext out, naming its key, and filters by stack name", () => {
    expect(loadStackFile(join(dir, "Pulumi.secure.yaml"))).toMatchObject({ config: {}, secureKeys: ["copilot-scale-kit:githubToken"] });
    expect(listStackFiles(dir, (s) => s !== "secure").map((s) => s.stack)).toEqual(["demo"]);
  });
});
