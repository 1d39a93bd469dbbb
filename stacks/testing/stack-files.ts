/**
 * Reads a `stacks/Pulumi.<stack>.yaml` file into the raw config the Pulumi CLI would hand the
 * program (PULUMI_CONFIG): full keys to strings, structured values as JSON text.
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { parse } from "yaml";

export interface StackFile {
  /** Stack name: `dev` for Pulumi.dev.yaml. */
  stack: string;
  path: string;
  config: Record<string, string>;
}

export function loadStackFile(path: string): StackFile {
  const doc = (parse(readFileSync(path, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const config: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (typeof value === "object" && value !== null && "secure" in value) {
      // Ciphertext needs the CLI's secrets provider; tests pass secrets through MockRunOptions instead.
      throw new Error(`${path}: ${key} is a secure value; stack files in this repo must not hold ciphertext`);
    }
    config[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  const stack = basename(path).replace(/^Pulumi\./, "").replace(/\.ya?ml$/, "");
  return { stack, path, config };
}

/** Every stack file in `dir` whose stack name passes `filter`, sorted by name. */
export function listStackFiles(dir: string, filter: (stack: string) => boolean = () => true): StackFile[] {
  return readdirSync(dir)
    .filter((f) => /^Pulumi\.[^.]+\.ya?ml$/.test(f) && filter(f.split(".")[1]!))
    .sort()
    .map((f) => loadStackFile(join(dir, f)));
}
