import type * as pulumi from "@pulumi/pulumi";

/** What every platform's deploy function returns; stacks/index.ts exports these. */
export interface StackOutputs {
  gatewayUrl: pulumi.Output<string>;
  servers: pulumi.Output<{ id: string; address: string }[]>;
  /** The conformance target descriptor as JSON text, wrapped with pulumi.secret. */
  target: pulumi.Output<string>;
}
