/** A client that opens a raw socket and trickles bytes, to time how long the gateway lets it stay. */
import { connect } from "node:net";
import { target } from "./harness.js";

export interface Trickle {
  /** Milliseconds from connecting until the gateway closed the socket, or undefined if it never did. */
  closedAfterMs?: number;
  /** What the gateway sent before closing (a 408, or nothing). */
  received: string;
}

/** Sends `first`, then one byte of `drip` every `everyMs`, until the gateway closes or `giveUpMs` passes. */
export function trickle(first: string, opts: { drip?: string; everyMs?: number; giveUpMs: number; gateway?: number }): Promise<Trickle> {
  const urls = target().gatewayUrls;
  const base = new URL(urls[(opts.gateway ?? 0) % urls.length]!);
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect(Number(base.port || 80), base.hostname);
    const chunks: Buffer[] = [];
    let drip: NodeJS.Timeout | undefined;
    const done = (closedAfterMs?: number) => {
      clearInterval(drip);
      clearTimeout(giveUp);
      socket.destroy();
      resolve({ closedAfterMs, received: Buffer.concat(chunks).toString("utf8") });
    };
    const giveUp = setTimeout(() => done(undefined), opts.giveUpMs);
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", () => undefined);
    socket.on("close", () => done(Date.now() - started));
    socket.on("connect", () => {
      socket.write(first);
      if (opts.drip !== undefined) drip = setInterval(() => socket.writable && socket.write(opts.drip!), opts.everyMs ?? 500);
    });
  });
}
