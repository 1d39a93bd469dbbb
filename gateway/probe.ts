/**
 * Protocol-level health probe for a CLI server: connects with the connection token and sends a
 * JSON-RPC ping. A TCP connect alone says nothing about this server, so probes use this.
 * Usage: probe [--address host:port] [--timeout-ms N]; token from COPILOT_CONNECTION_TOKEN.
 * Exit 0 when the server answers the ping, 1 otherwise (the reason goes to stderr).
 */
import { parseArgs } from "node:util";
import { CopilotClient, RuntimeConnection } from "@github/copilot-sdk";

export async function pingServer(address: string, connectionToken: string | undefined, timeoutMs: number): Promise<number> {
  const client = new CopilotClient({ connection: RuntimeConnection.forUri(address, { connectionToken }) });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    const reply = await Promise.race([client.start().then(() => client.ping("probe")), timeout]);
    return reply.protocolVersion ?? 0;
  } finally {
    clearTimeout(timer);
    await client.forceStop().catch(() => undefined);
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { address: { type: "string", default: "127.0.0.1:4321" }, "timeout-ms": { type: "string", default: "3000" } },
  });
  try {
    const version = await pingServer(values.address!, process.env.COPILOT_CONNECTION_TOKEN, Number(values["timeout-ms"]));
    console.log(`ok ${values.address} protocol=${version}`);
    process.exit(0);
  } catch (err) {
    console.error(`unhealthy ${values.address}: ${(err as Error).message}`);
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) void main();
