/**
 * Where exactly each secret sits in a resource's inputs. The mock monitor lifts secretness to the
 * top-level property (a token deep in `containers` marks all of `containers` secret), which cannot
 * tell a `secureValue` from a plain `value`. The SDK itself sends each secret as its own envelope,
 * so this reads the request before the monitor deserializes it. Use with testing/pulumi-mocks.ts.
 */
import * as pulumi from "@pulumi/pulumi";
import mocks from "@pulumi/pulumi/runtime/mocks.js";

interface RawRequest {
  getType(): string;
  getName(): string;
  getObject(): { toJavaScript(): unknown } | undefined;
}

const isEnvelope = (v: unknown): v is { value: unknown } =>
  typeof v === "object" && v !== null && (v as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;

/** Every secret envelope, at the depth the program put it: its dotted path and its value. */
export function leafSecrets(value: unknown, path = "", out: { path: string; value: unknown }[] = []): { path: string; value: unknown }[] {
  if (isEnvelope(value)) {
    out.push({ path, value: value.value });
    return out;
  }
  if (Array.isArray(value)) value.forEach((v, i) => leafSecrets(v, path ? `${path}.${i}` : String(i), out));
  else if (typeof value === "object" && value !== null) {
    for (const [k, v] of Object.entries(value)) leafSecrets(v, path ? `${path}.${k}` : k, out);
  }
  return out;
}

export interface LeafSecretRecorder {
  /** `type/name` to the leaf secret paths of its inputs. */
  readonly paths: Map<string, string[]>;
  /** Every string that arrived wrapped as a secret, in any resource. */
  readonly values: Set<string>;
  restore(): void;
}

/** Starts recording leaf secret paths of every registered resource; call restore() when done. */
export function recordLeafSecrets(): LeafSecretRecorder {
  const proto = (mocks as unknown as { MockMonitor: { prototype: Record<string, unknown> } }).MockMonitor.prototype;
  const original = proto.registerResource as (this: unknown, req: RawRequest, cb: unknown) => unknown;
  const paths = new Map<string, string[]>();
  const values = new Set<string>();
  proto.registerResource = function (this: unknown, req: RawRequest, cb: unknown) {
    const secrets = leafSecrets(req.getObject()?.toJavaScript());
    paths.set(`${req.getType()}/${req.getName()}`, secrets.map((s) => s.path));
    for (const s of secrets) if (typeof s.value === "string") values.add(s.value);
    return original.call(this, req, cb);
  };
  return { paths, values, restore: () => void (proto.registerResource = original) };
}
