/**
 * The session TTL cleanup as a CronJob: the gateway image's `cleanup` command runs one pass over
 * the shared registry and deletes expired sessions from the CLI servers. It needs the redis store:
 * a separate process cannot see a memory-store gateway's registry (that gateway cleans on a timer).
 */
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";
import { GATEWAY_COMMANDS } from "../../images/contract.js";
import type { GatewayRuntime } from "./gateway-runtime.js";
import {
  BACKEND_CLIENT_LABEL,
  type ResourceRequirements,
  hardenedPodTemplate,
  RESTRICTED_CONTAINER_SECURITY,
  scratchVolume,
  standardLabels,
  TMP_MOUNT,
} from "./meta.js";

export interface SessionCleanupArgs {
  namespace: string;
  instance: string;
  runtime: GatewayRuntime;
  /** Cron schedule, e.g. every 15 minutes. */
  schedule: string;
  resources?: ResourceRequirements;
}

export const DEFAULT_CLEANUP_RESOURCES: ResourceRequirements = {
  requests: { cpu: "50m", memory: "128Mi" },
  limits: { cpu: "500m", memory: "256Mi" },
};

export class SessionCleanup extends pulumi.ComponentResource {
  readonly cronJob: k8s.batch.v1.CronJob;

  constructor(name: string, args: SessionCleanupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("copilot-scale-kit:k8s:SessionCleanup", name, {}, opts);
    if (args.runtime.config.store !== "redis") {
      throw new Error(`SessionCleanup needs the redis store; with store "${args.runtime.config.store}" the gateway runs the cleanup itself`);
    }
    if (args.runtime.config.lifecycle.sessionTtlSeconds <= 0) {
      throw new Error("SessionCleanup: lifecycle.sessionTtlSeconds is 0 (no TTL), so there is nothing to clean");
    }
    const k8sName = `${args.instance}-session-cleanup`;
    const labels = standardLabels(args.instance, "session-cleanup", { [BACKEND_CLIENT_LABEL]: "true" });
    this.cronJob = new k8s.batch.v1.CronJob(
      k8sName,
      {
        metadata: { name: k8sName, namespace: args.namespace, labels },
        spec: {
          schedule: args.schedule,
          // A slow pass must not overlap the next one.
          concurrencyPolicy: "Forbid",
          startingDeadlineSeconds: 300,
          successfulJobsHistoryLimit: 1,
          failedJobsHistoryLimit: 3,
          jobTemplate: {
            metadata: { labels },
            spec: {
              backoffLimit: 1,
              activeDeadlineSeconds: 900,
              ttlSecondsAfterFinished: 86_400,
              // A run-to-completion pod: no probes; the Job's deadline bounds it.
              template: hardenedPodTemplate(labels, {
                imagePull: args.runtime.imagePull,
                restartPolicy: "Never",
                containers: [
                  {
                    name: "cleanup",
                    image: args.runtime.image,
                    imagePullPolicy: args.runtime.imagePull?.policy,
                    args: [GATEWAY_COMMANDS.cleanup],
                    env: args.runtime.env,
                    resources: args.resources ?? DEFAULT_CLEANUP_RESOURCES,
                    securityContext: RESTRICTED_CONTAINER_SECURITY,
                    volumeMounts: [TMP_MOUNT],
                  },
                ],
                volumes: [scratchVolume("tmp", "256Mi")],
              }),
            },
          },
        },
      },
      { parent: this },
    );
    this.registerOutputs({});
  }
}
