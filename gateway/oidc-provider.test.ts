/**
 * The OIDC authenticator against a real OpenID provider on loopback: panva's oidc-provider (an
 * OpenID Certified implementation from npm; Dex could not be built here, see the README). Two
 * clients get tokens with the client_credentials grant (their `sub` is their client id, i.e. two
 * users); the provider restarts with a new signing key and its new tokens work with the same
 * authenticator; a token for another audience, from another issuer, or living longer than the
 * configured maximum is refused (no exp is checked with self-made tokens in oidc.test.ts: a real
 * provider always sets one).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { oidcAuthenticator } from "./auth.js";
import { statusOf } from "../testing/error-status.js";
import { OIDC_AUDIENCE as audience, type OidcProvider, startOidcProvider } from "../testing/oidc-provider.js";

const otherAudience = "https://another-api.test";
let provider: OidcProvider;
let issuer = "";
const tokenFor = (client: "alice" | "bob", resource?: string) => provider.tokenFor(client, resource);
const startProvider = (kid: string) => provider.rotate(kid);

beforeAll(async () => {
  provider = await startOidcProvider();
  issuer = provider.issuer;
});
afterAll(() => provider?.close());

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

  it("refuses a real token from another issuer, and one whose lifetime is past the configured maximum", async () => {
    const other = await startOidcProvider();
    try {
      const auth = oidcAuthenticator({ issuer, audience, algorithms: ["ES256"], roomsClaim: "rooms", maxLifetimeSeconds: 3600, clockToleranceSeconds: 30, jwksCooldownSeconds: 0 });
      const own = await tokenFor("alice");
      expect((await auth.authenticate(`Bearer ${own}`)).user, "the positive control").toBe("alice");
      // Same clients, same audience, another issuer (and its own key): 401.
      expect(await statusOf(auth.authenticate(`Bearer ${await other.tokenFor("alice")}`))).toBe(401);
      // The provider issues 600 s tokens; a gateway that accepts at most 300 s refuses them.
      const strict = oidcAuthenticator({ issuer, audience, algorithms: ["ES256"], roomsClaim: "rooms", maxLifetimeSeconds: 300, clockToleranceSeconds: 30, jwksCooldownSeconds: 0 });
      expect(await statusOf(strict.authenticate(`Bearer ${own}`))).toBe(401);
    } finally {
      await other.close();
    }
  });
});
