/**
 * Runs a Pulumi program under `pulumi.runtime.setMocks` and captures every resource it registers,
 * so tests can assert on the rendered objects without a cluster, a cloud or the Pulumi CLI.
 * Platform-neutral: the Kubernetes and ACI stack tests both use it.
 * Mocks do not apply a provider's additionalSecretOutputs (e.g. RandomPassword.result): code under
 * test must wrap such values with pulumi.secret itself, which also keeps them secret for real.
 */
import { createHash } from "node:crypto";
import * as pulumi from "@pulumi/pulumi";

/** One registered resource, as the engine would receive it. */
export interface CapturedResource {
  /** Type token, e.g. `kubernetes:apps/v1:Deployment`. */
  type: string;
  /** Pulumi logical name. */
  name: string;
  /** Inputs with secret envelopes unwrapped to their plain values. */
  inputs: Record<string, unknown>;
  /** Dotted paths of the inputs that were marked secret (e.g. `stringData.token`). */
  secretPaths: string[];
  /** Reference (`urn::id`) of an explicit provider, if the resource has one. */
  provider?: string;
}

export interface MockRunOptions {
  /** Raw config as the Pulumi CLI passes it: full keys (`ns:key`) to strings (objects as JSON). */
  config: Record<string, string>;
  /** Full keys of config values that are secrets. */
  secretKeys?: string[];
  project?: string;
  stack?: string;
  /** Extra output state for a resource (merged over its inputs), e.g. a LoadBalancer's status. */
  state?: (resource: CapturedResource) => Record<string, unknown> | undefined;
  /** Result of a provider function (invoke), e.g. azure-native:storage:listStorageAccountKeys; default echoes the inputs. */
  call?: (args: pulumi.runtime.MockCallArgs) => Record<string, unknown> | undefined;
  /** Fails the run instead of hanging on an output that never resolves. */
  timeoutMs?: number;
}

export interface MockRun<T> {
  /** What the program returned (typically its module namespace: the stack outputs). */
  exports: T;
  resources: CapturedResource[];
}

const isSecretEnvelope = (v: unknown): v is { value: unknown } =>
  typeof v === "object" &&
  v !== null &&
  (v as Record<string, unknown>)[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;

/** Replaces secret envelopes by their values, recording where they were. */
export function unwrapSecrets(value: unknown, path = "", secretPaths: string[] = []): { value: unknown; secretPaths: string[] } {
  if (isSecretEnvelope(value)) {
    secretPaths.push(path);
    return { value: unwrapSecrets(value.value, path, []).value, secretPaths };
  }
  if (Array.isArray(value)) {
    return { value: value.map((v, i) => unwrapSecrets(v, join(path, String(i)), secretPaths).value), secretPaths };
  }
  if (typeof value === "object" && value !== null && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = unwrapSecrets(v, join(path, k), secretPaths).value;
    return { value: out, secretPaths };
  }
  return { value, secretPaths };
}

const join = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/** Deterministic stand-ins for provider-computed outputs (image digests). */
function defaultState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const digest = createHash("sha256").update(`${type}/${name}`).digest("hex");
  switch (type) {
    case "docker-build:index:Image": {
      // A pushed image's ref is its first tag pinned to the digest.
      const tag = (inputs.tags as string[] | undefined)?.[0];
      return { digest: `sha256:${digest}`, ref: tag && inputs.push ? `${tag}@sha256:${digest}` : (tag ?? "") };
    }
    default:
      return {};
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms (an output that never resolves?)`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Runs `program` (e.g. `() => import("../index.js")` after a module-cache reset) with the given
 * config, waits until every resource registration has finished, and returns what it registered.
 */
export async function runWithMocks<T>(program: () => Promise<T>, opts: MockRunOptions): Promise<MockRun<T>> {
  const resources: CapturedResource[] = [];
  pulumi.runtime.setAllConfig(opts.config, opts.secretKeys ?? []);
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs): { id: string; state: Record<string, unknown> } {
        const { value, secretPaths } = unwrapSecrets(args.inputs);
        const captured: CapturedResource = {
          type: args.type,
          name: args.name,
          inputs: value as Record<string, unknown>,
          secretPaths,
          ...(args.provider ? { provider: args.provider } : {}),
        };
        resources.push(captured);
        const state = { ...args.inputs, ...defaultState(args.type, args.name, captured.inputs), ...(opts.state?.(captured) ?? {}) };
        return { id: `${args.name}-id`, state };
      },
      call(args: pulumi.runtime.MockCallArgs): Record<string, unknown> {
        return opts.call?.(args) ?? (args.inputs as Record<string, unknown>);
      },
    },
    opts.project ?? "copilot-scale-kit",
    opts.stack ?? "test",
    false,
  );
  const timeoutMs = opts.timeoutMs ?? 15_000;
  // Registrations run asynchronously after the program returns; disconnect waits for all of them,
  // also when the program threw, so none lands on the next run's monitor.
  const settle = () => withTimeout(pulumi.runtime.disconnect(), timeoutMs, "resource registration");
  let exports: T;
  try {
    exports = await withTimeout(program(), timeoutMs, "the program");
  } catch (err) {
    await settle().catch(() => undefined);
    throw err;
  }
  await settle();
  return { exports, resources };
}

/** The value of an output and whether it is secret, failing instead of hanging. */
export async function resolveOutput<T>(output: pulumi.Output<T>, timeoutMs = 10_000): Promise<{ value: T; secret: boolean }> {
  const value = await withTimeout(new Promise<T>((resolve) => output.apply((v) => resolve(v))), timeoutMs, "an output");
  return { value, secret: await pulumi.isSecret(output) };
}
