/**
 * The local platform's identity tap: a TCP tap between the gateway's SDK and a real
 * offline CLI that records the GitHub token each `session.create` and `session.resume` carries. An
 * offline CLI cannot take the token itself (it validates it against api.github.com, and refuses it
 * beside a BYOK provider), so the tap records it, then removes it (only GitHub could check it) and adds the mock
 * model's provider before forwarding. Everything else (the connection token, turns, events) passes
 * through unchanged. Tests read `calls`; the platform logs a fingerprint per call, never the token.
 */
import { createServer, connect, type Server, type Socket } from "node:net";

export interface TappedCall {
  method: "session.create" | "session.resume";
  sessionId: string;
  /** The session-level gitHubToken the gateway sent; undefined when it sent none. */
  gitHubToken?: string;
}

export interface IdentityTap {
  address: string;
  calls: TappedCall[];
  /** Client connections still open through the tap. */
  openConnections(): number;
  stop(): Promise<void>;
}

/** LSP framing: `Content-Length: N\r\n\r\n` then N bytes of JSON. Calls onMessage per whole message. */
function framer(onMessage: (body: Buffer) => void): (chunk: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    for (;;) {
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const length = Number(/content-length:\s*(\d+)/i.exec(buf.subarray(0, end).toString("ascii"))?.[1]);
      if (!Number.isFinite(length) || buf.length < end + 4 + length) return;
      onMessage(buf.subarray(end + 4, end + 4 + length));
      buf = buf.subarray(end + 4 + length);
    }
  };
}

const frame = (json: string) => `Content-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;

export async function startIdentityTap(cliAddress: string, provider: { type: string; baseUrl: string }, onCall?: (call: TappedCall) => void): Promise<IdentityTap> {
  const [host, port] = [cliAddress.slice(0, cliAddress.lastIndexOf(":")), Number(cliAddress.slice(cliAddress.lastIndexOf(":") + 1))];
  const calls: TappedCall[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(port, host);
    sockets.add(client).add(upstream);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on("error", close).on("close", close);
    upstream.on("error", close).on("close", close);
    upstream.on("data", (d: Buffer) => client.write(d));
    client.on(
      "data",
      framer((body) => {
        const msg = JSON.parse(body.toString("utf8")) as { method?: string; params?: Record<string, unknown> };
        if ((msg.method === "session.create" || msg.method === "session.resume") && msg.params) {
          const { gitHubToken, ...params } = msg.params;
          const call: TappedCall = { method: msg.method, sessionId: String(params.sessionId), gitHubToken: gitHubToken as string | undefined };
          calls.push(call);
          onCall?.(call);
          msg.params = { ...params, provider };
          upstream.write(frame(JSON.stringify(msg)));
          return;
        }
        upstream.write(frame(body.toString("utf8")));
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port: tapPort } = server.address() as { port: number };
  return {
    address: `127.0.0.1:${tapPort}`,
    calls,
    openConnections: () => [...sockets].length / 2,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
