/**
 * Stack files and the stack program for tests: reads a `stacks/Pulumi.<stack>.yaml` file into the
 * raw config the Pulumi CLI would hand the program (PULUMI_CONFIG): full keys to strings,
 * structured values as JSON text.
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { vi } from "vitest";
import { parse } from "yaml";
import type { StackOutputs } from "../stacks/outputs.js";

/** The folder of the Pulumi program and its stack files. */
export const STACKS_DIR = join(import.meta.dirname, "..", "stacks");

export interface StackFile {
  /** Stack name: `dev` for Pulumi.dev.yaml. */
  stack: string;
  path: string;
  /** Plain values; `secure:` ciphertext is left out (only the CLI can decrypt it). */
  config: Record<string, string>;
  /** Keys whose value is `secure:` ciphertext; tests supply their own values for them. */
  secureKeys: string[];
}

export function loadStackFile(path: string): StackFile {
  const doc = (parse(readFileSync(path, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  const secureKeys: string[] = [];
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (typeof value === "object" && value !== null && "secure" in value) {
      secureKeys.push(key);
      continue;
    }
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  const stack = basename(path).replace(/^Pulumi\./, "").replace(/\.ya?ml$/, "");
  return { stack, path, config, secureKeys };
}

/** Every stack file in `dir` whose stack name passes `filter`, sorted by name. */
export function listStackFiles(dir: string, filter: (stack: string) => boolean = () => true): StackFile[] {
  return readdirSync(dir)
    .filter((f) => /^Pulumi\.[^.]+\.ya?ml$/.test(f) && filter(f.split(".")[1]!))
    .sort()
    .map((f) => loadStackFile(join(dir, f)));
}

/** A fresh evaluation of the stack program (stacks/index.ts runs at module evaluation). */
export async function importStackProgram(): Promise<StackOutputs> {
  vi.resetModules();
  return (await import("../stacks/index.js")) as unknown as StackOutputs;
}
