/**
 * Test fixture: a real OpenID provider on loopback (panva's oidc-provider, OpenID Certified, from
 * npm). Clients get tokens with the client_credentials grant, their `sub` being their client id
 * (one client = one user); `rotate` restarts it behind the same address with a fresh ES256 key.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";
import Provider from "oidc-provider";

export const OIDC_AUDIENCE = "https://gateway.test";
export const OIDC_CLIENTS = { alice: "alice-secret-0123456789abcdef", bob: "bob-secret-0123456789abcdefgh" } as const;
export type OidcClient = keyof typeof OIDC_CLIENTS;

export interface OidcProvider {
  issuer: string;
  /** An access token (JWT) for the client, for `resource` (its audience). */
  tokenFor(client: OidcClient, resource?: string): Promise<string>;
  /** The provider restarts with a new signing key; the old one is no longer published. */
  rotate(kid: string): Promise<void>;
  close(): Promise<void>;
}

export async function startOidcProvider(opts: { rooms?: string[] } = {}): Promise<OidcProvider> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  const server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const rotate = async (kid: string) => {
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const provider = new Provider(issuer, {
      clients: Object.entries(OIDC_CLIENTS).map(([id, secret]) => ({
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
          defaultResource: () => OIDC_AUDIENCE,
          getResourceServerInfo: (_ctx, resource) => ({ audience: resource, accessTokenFormat: "jwt", accessTokenTTL: 600, scope: "", jwt: { sign: { alg: "ES256" } } }),
        },
      },
      extraTokenClaims: () => ({ rooms: opts.rooms ?? ["team"] }),
    });
    handler = provider.callback();
  };
  await rotate("gen-1");

  return {
    issuer,
    rotate,
    async tokenFor(client, resource = OIDC_AUDIENCE) {
      const res = await fetch(`${issuer}/token`, {
        method: "POST",
        headers: { authorization: `Basic ${Buffer.from(`${client}:${OIDC_CLIENTS[client]}`).toString("base64")}`, "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ grant_type: "client_credentials", resource }),
      });
      const body = (await res.json()) as { access_token?: string };
      if (res.status !== 200 || !body.access_token) throw new Error(`token for ${client}: ${res.status} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
