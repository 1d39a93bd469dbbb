/**
 * The OIDC authenticator against a real OpenID provider on loopback: panva's oidc-provider (an
 * OpenID Certified implementation from npm; Dex could not be built here, see the README). Two
 * clients get tokens with the client_credentials grant (their `sub` is their client id, i.e. two
 * users); the provider restarts with a new signing key and its new tokens work with the same
 * authenticator; a token for another audience is refused.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { oidcAuthenticator } from "./auth.js";
import { statusOf } from "../testing/error-status.js";

const audience = "https://gateway.test";
const otherAudience = "https://another-api.test";
const clients = { alice: "alice-secret-0123456789abcdef", bob: "bob-secret-0123456789abcdefgh" };

let server: Server;
let issuer = "";
let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();

/** (Re)starts the provider behind the same address with a fresh ES256 signing key. */
async function startProvider(kid: string): Promise<void> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  const provider = new Provider(issuer, {
    clients: Object.entries(clients).map(([id, secret]) => ({
      client_id: id,
      client_secret: secret,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      id_token_signed_response_alg: "ES256",
    })),
    jwks: { keys: [{ ...(await exportJWK(privateKey)), kid, alg: "ES256", use: "sig" }] },
    features: {
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => audience,
        getResourceServerInfo: (_ctx, resource) => ({ audience: resource, accessTokenFormat: "jwt", accessTokenTTL: 600, scope: "", jwt: { sign: { alg: "ES256" } } }),
      },
    },
    extraTokenClaims: () => ({ rooms: ["team"] }),
  });
  handler = provider.callback();
}

async function tokenFor(client: keyof typeof clients, resource = audience): Promise<string> {
  const res = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: { authorization: `Basic ${Buffer.from(`${client}:${clients[client]}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ grant_type: "client_credentials", resource }),
  });
  const body = (await res.json()) as { access_token?: string };
  expect(res.status, JSON.stringify(body)).toBe(200);
  return body.access_token!;
}

beforeAll(async () => {
  server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await startProvider("gen-1");
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

describe("oidc authenticator against oidc-provider", () => {
  it("accepts two users' tokens, refuses another audience, and accepts tokens signed after a key rotation without a restart", async () => {
    // No jwksUri: found through the provider's discovery document.
    const auth = oidcAuthenticator({ issuer, audience, algorithms: ["ES256"], roomsClaim: "rooms", maxLifetimeSeconds: 3600, clockToleranceSeconds: 30, jwksCooldownSeconds: 0 });
    expect(await auth.authenticate(`Bearer ${await tokenFor("alice")}`)).toEqual({ user: "alice", rooms: ["team"] });
    expect((await auth.authenticate(`Bearer ${await tokenFor("bob")}`)).user).toBe("bob");
    expect(await statusOf(auth.authenticate(`Bearer ${await tokenFor("alice", otherAudience)}`))).toBe(401);

    const beforeRotation = await tokenFor("alice");
    await startProvider("gen-2"); // the provider restarts with a new key; the gateway's authenticator stays
    expect((await auth.authenticate(`Bearer ${await tokenFor("bob")}`)).user).toBe("bob");
    // The old key is no longer published: its tokens are from an unknown key now.
    expect(await statusOf(auth.authenticate(`Bearer ${beforeRotation}`))).toBe(401);
  });
});
